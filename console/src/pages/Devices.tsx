/** The project's (or the user's homes') devices, with live presence, filters and paging. */
import { get, query, request } from "../api";
import { DataTable } from "../components/DataTable";
import { ErrorNote, Pager, Presence, Section, time, useData } from "../components/ui";
import { usePoll, useLiveEvents, POLL_MS } from "../live";
import { go, href, type Route } from "../router";
import { seesWholeProject, type Session } from "../session";
import type { Device, DeviceClass, Home } from "../types";

const LIMIT = 25;

/** The device as a presence event leaves it (the same fields the REST answer would show). */
function withPresence(d: Device, connected: boolean, at: string): Device {
  return connected ? { ...d, isConnected: true, lastConnectTime: at } : { ...d, isConnected: false, lastDisconnectTime: at };
}

export function Devices({ session, route }: { session: Session; route: Route }) {
  const whole = seesWholeProject(session);
  const projectId = session.project.id;
  const skip = Number(route.params.get("skip") ?? 0) || 0;
  const deviceClass = route.params.get("class") ?? "";

  const homes = useData(
    () => get<Home[]>(`/homes${query(session.kind === "user" ? { userId: session.userId, limit: 100 } : { projectId, limit: 100 })}`),
    [session.key],
  );
  const classes = useData(() => get<DeviceClass[]>(`/projects/${projectId}/deviceClasses`).catch(() => [] as DeviceClass[]), [session.key]);
  // Someone who sees only their homes lists one home at a time (the first by default).
  const homeId = route.params.get("home") ?? (whole ? "" : String(homes.data?.[0]?.id ?? ""));

  const devices = useData(async () => {
    if (!whole && !homeId) return { list: [] as Device[], total: 0 };
    const params = homeId ? { homeId } : { projectId };
    const a = await request<Device[]>("GET", `/devices${query({ ...params, deviceClass: deviceClass || undefined, skip, limit: LIMIT })}`);
    return { list: a.body, total: a.total ?? a.body.length };
  }, [session.key, homeId, deviceClass, skip]);

  useLiveEvents((e) => {
    if (e.eventType !== "_deviceConnected_" && e.eventType !== "_deviceDisconnected_") return;
    devices.setData((d) =>
      d && { ...d, list: d.list.map((x) => (x.id === e.originDeviceId ? withPresence(x, e.eventType === "_deviceConnected_", e.timestamp) : x)) },
    );
  });
  usePoll(devices.reload, session.kind === "key");

  const setFilter = (change: Record<string, string | undefined>) =>
    go("devices", { home: homeId || undefined, class: deviceClass || undefined, ...change, skip: undefined });
  const homeName = (id?: number) => homes.data?.find((h) => h.id === id)?.name ?? (id ? `#${id}` : "—");

  return (
    <>
      <h1>Devices</h1>
      <Section title="Filter">
        <form class="filters" onSubmit={(e) => e.preventDefault()}>
          <div class="field">
            <label for="filter-home">Home</label>
            <select id="filter-home" value={homeId} onChange={(e) => setFilter({ home: e.currentTarget.value || undefined })}>
              {whole && <option value="">All homes</option>}
              {homes.data?.map((h) => (
                <option key={h.id} value={String(h.id)}>
                  {h.name} (#{h.id})
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="filter-class">Class</label>
            <select id="filter-class" value={deviceClass} onChange={(e) => setFilter({ class: e.currentTarget.value || undefined })}>
              <option value="">All classes</option>
              {classes.data?.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name} ({c.id})
                </option>
              ))}
            </select>
          </div>
        </form>
        {session.kind === "key" ? (
          <p class="hint">Presence is polled every {POLL_MS / 1000} s: a project key has no event socket. Sign in as a user for instant updates.</p>
        ) : (
          <p class="hint">Presence updates live through your event socket (devices in your homes).</p>
        )}
      </Section>
      <ErrorNote error={devices.error ?? homes.error} />
      {!whole && homes.data?.length === 0 && <p>You are not a member of any home yet. Make one under Homes, then claim a device into it.</p>}
      <DataTable
        label="Devices"
        rows={devices.data?.list}
        rowKey={(d) => d.id}
        rowAttrs={(d) => ({ "data-device-id": d.id })}
        empty={
          <>
            No devices here yet. Make one with <code>POST /devices</code> (see the README's first calls).
          </>
        }
        columns={[
          { head: "Status", cell: (d) => <Presence online={d.isConnected} /> },
          { head: "ID", class: "wide-only", cell: (d) => d.id },
          { head: "Name", cell: (d) => <a href={href(`devices/${d.id}`)}>{d.name || `Device ${d.id}`}</a> },
          { head: "Class", cell: (d) => d.deviceClass },
          { head: "Tag", class: "wide-only", cell: (d) => d.tag || "—" },
          { head: "Home", cell: (d) => homeName(d.homeId) },
          { head: "Last connect", class: "wide-only", cell: (d) => time(d.lastConnectTime) },
        ]}
      />
      {devices.data && (
        <Pager skip={skip} limit={LIMIT} total={devices.data.total} onPage={(s) => go("devices", { home: homeId || undefined, class: deviceClass || undefined, skip: s || undefined })} />
      )}
    </>
  );
}
