/** One device: its info and presence, a command form and its recent commands, its live events, key-values and logs. */
import { useState } from "preact/hooks";
import { get } from "../api";
import { CommandForm, RecentCommands } from "../components/Commands";
import { DeviceLogs } from "../components/DeviceLogs";
import { EventStream } from "../components/EventStream";
import { KeyValues } from "../components/KeyValues";
import { ErrorNote, Presence, Section, time, useData } from "../components/ui";
import { useLiveEvents, usePoll } from "../live";
import { href } from "../router";
import type { Session } from "../session";
import type { Device as DeviceT } from "../types";

export function Device({ session, id }: { session: Session; id: number }) {
  const device = useData(() => get<DeviceT>(`/devices/${id}`), [session.key, id]);
  useLiveEvents((e) => {
    if (e.originDeviceId !== id) return;
    if (e.eventType === "_deviceConnected_" || e.eventType === "_deviceDisconnected_") device.reload();
  });
  usePoll(device.reload, session.kind === "key");
  const [sent, setSent] = useState(0);
  const d = device.data;

  return (
    <>
      <p class="crumbs">
        <a href={href("devices")}>Devices</a> / #{id}
      </p>
      <h1>
        {d ? d.name || `Device ${d.id}` : `Device ${id}`} {d && <Presence online={d.isConnected} />}
      </h1>
      <ErrorNote error={device.error} />
      {d && (
        <Section title="Info">
          <dl class="info">
            <dt>ID</dt>
            <dd>{d.id}</dd>
            <dt>Class</dt>
            <dd>{d.deviceClass}</dd>
            <dt>Tag</dt>
            <dd>{d.tag || "—"}</dd>
            <dt>Home</dt>
            <dd>{d.homeId ? <a href={href(`homes/${d.homeId}`)}>#{d.homeId}</a> : "none (not claimed)"}</dd>
            <dt>Last connect</dt>
            <dd>{time(d.lastConnectTime)}</dd>
            <dt>Last disconnect</dt>
            <dd>{time(d.lastDisconnectTime)}</dd>
            <dt>Firmware bundle</dt>
            <dd>{d.bundleInstalled ?? "—"}</dd>
          </dl>
        </Section>
      )}
      <div class="columns">
        <CommandForm deviceId={id} onSent={() => setSent((n) => n + 1)} />
        <EventStream session={session} deviceId={id} inHome={d ? d.homeId !== undefined : true} />
      </div>
      <RecentCommands session={session} deviceId={id} version={sent} />
      <KeyValues session={session} deviceId={id} />
      <DeviceLogs deviceId={id} />
    </>
  );
}
