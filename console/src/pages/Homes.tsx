/** Homes (the user's, or all of the project's for a key), one home's members, and leaving a home. */
import { useState } from "preact/hooks";
import { ApiError, get, query, request } from "../api";
import { DataTable } from "../components/DataTable";
import { ErrorNote, Section, time, useData } from "../components/ui";
import { go, href } from "../router";
import type { Session } from "../session";
import type { Home, Member } from "../types";

export function Homes({ session }: { session: Session }) {
  const projectId = session.project.id;
  const homes = useData(
    () => get<Home[]>(`/homes${query(session.kind === "user" ? { userId: session.userId, limit: 100 } : { projectId, limit: 100 })}`),
    [session.key],
  );
  const [name, setName] = useState("");
  const [error, setError] = useState<unknown>(null);

  async function create(e: Event) {
    e.preventDefault();
    setError(null);
    try {
      await request("POST", "/homes", session.kind === "user" ? { name } : { name, projectId });
      setName("");
      homes.reload();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <>
      <h1>Homes</h1>
      <ErrorNote error={homes.error} />
      <DataTable
        label="Homes"
        rows={homes.data}
        rowKey={(h) => h.id}
        empty="No homes yet."
        columns={[
          { head: "ID", cell: (h) => h.id },
          { head: "Name", cell: (h) => <a href={href(`homes/${h.id}`)}>{h.name}</a> },
          { head: "Created", cell: (h) => time(h.creationTime) },
          { head: "Devices", cell: (h) => <a href={href("devices", { home: h.id })}>Devices of {h.name}</a> },
        ]}
      />
      <Section title="New home">
        <form class="row-form" onSubmit={create}>
          <div class="field grow">
            <label for="home-name">Home name</label>
            <input id="home-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </div>
          <button type="submit">Create home</button>
        </form>
        <ErrorNote error={error} />
      </Section>
    </>
  );
}

export function HomeDetail({ session, id }: { session: Session; id: number }) {
  const home = useData(() => get<Home>(`/homes/${id}`), [session.key, id]);
  const members = useData(() => get<Member[]>(`/homes/${id}/members?limit=100`), [session.key, id]);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<"member" | "owner">("member");
  const [error, setError] = useState<unknown>(null);

  async function add(e: Event) {
    e.preventDefault();
    setError(null);
    try {
      await request("POST", `/homes/${id}/members`, { email, role });
      setEmail("");
      members.reload();
    } catch (err) {
      setError(err);
    }
  }

  async function remove(m: Member) {
    setError(null);
    try {
      await request("DELETE", `/homes/${id}/members/${m.userId}`);
      members.reload();
    } catch (err) {
      setError(err);
    }
  }

  // A signed-in user's own row: they leave (below) rather than remove themselves.
  const mine = session.kind === "user" ? members.data?.find((m) => m.userId === session.userId) : undefined;

  return (
    <>
      <p class="crumbs">
        <a href={href("homes")}>Homes</a> / #{id}
      </p>
      <h1>{home.data?.name ?? `Home ${id}`}</h1>
      <ErrorNote error={home.error} />
      <p>
        <a href={href("devices", { home: id })}>See this home's devices</a>
      </p>
      <Section title="Members">
        <ErrorNote error={members.error ?? error} />
        <DataTable
          label="Members"
          stack
          rows={members.data}
          rowKey={(m) => m.userId}
          columns={[
            { head: "Name", rowHeader: true, cell: (m) => m.name },
            { head: "Email", cell: (m) => <Email address={m.email} /> },
            { head: "Role", cell: (m) => m.role },
            {
              head: "Actions",
              srOnly: true,
              class: "actions",
              cell: (m) =>
                m.userId === mine?.userId ? (
                  <span class="muted">You</span>
                ) : (
                  <button type="button" class="danger" aria-label={`Remove ${m.email}`} onClick={() => void remove(m)}>
                    Remove
                  </button>
                ),
            },
          ]}
        />
        <form class="row-form" onSubmit={add}>
          <div class="field grow">
            <label for="member-email">Email of a project user</label>
            <input id="member-email" type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="member-role">Role</label>
            <select id="member-role" value={role} onChange={(e) => setRole(e.currentTarget.value as "member" | "owner")}>
              <option value="member">member</option>
              <option value="owner">owner</option>
            </select>
          </div>
          <button type="submit">Add member</button>
        </form>
      </Section>
      {mine && <LeaveHome homeId={id} homeName={home.data?.name ?? `Home ${id}`} member={mine} />}
    </>
  );
}

/** An email that, where it must wrap (a phone), wraps after its @ rather than at whichever letter reaches the edge. */
function Email({ address }: { address: string }) {
  const at = address.lastIndexOf("@");
  // One element: in a stacked row the cell is a grid, where loose text and <wbr> would each take a cell.
  return (
    <span>
      {address.slice(0, at + 1)}
      {at >= 0 && <wbr />}
      {address.slice(at + 1)}
    </span>
  );
}

/**
 * The signed-in user's own membership and the way out of it: anyone added to
 * a home may leave it, unless they are its only owner. Leaving asks first, and
 * a refusal is said in words next to the button.
 */
function LeaveHome({ homeId, homeName, member }: { homeId: number; homeName: string; member: Member }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);

  async function leave() {
    setBusy(true);
    setRefusal(null);
    try {
      await request("DELETE", `/homes/${homeId}/members/${member.userId}`);
      // The home is no longer visible to this user: back to the ones they have.
      go("homes");
    } catch (err) {
      setRefusal(leaveRefusal(err));
      setConfirming(false);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Section title="Your membership">
      <div class="leave-row" data-leave-home={homeId}>
        <p>
          You are {member.role === "owner" ? "an owner" : "a member"} of {homeName}.
        </p>
        {confirming ? (
          <div class="confirm" role="group" aria-label="Confirm leaving">
            <span>Leave {homeName}? Its devices and events no longer reach you, and only an owner can add you back.</span>
            <button type="button" id="leave-confirm" class="danger" disabled={busy} onClick={() => void leave()}>
              Yes, leave
            </button>
            <button type="button" id="leave-cancel" disabled={busy} onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        ) : (
          <button
            type="button"
            id="leave-home"
            class="danger"
            onClick={() => {
              setRefusal(null);
              setConfirming(true);
            }}
          >
            Leave home
          </button>
        )}
        {refusal && (
          <p class="error" role="alert">
            {refusal}
          </p>
        )}
      </div>
    </Section>
  );
}

/** Why leaving was refused, in words. */
function leaveRefusal(err: unknown): string {
  if (err instanceof ApiError && err.reason === "LAST_OWNER") {
    return "You are this home's only owner, so you cannot leave it. Make another member an owner first, or take its devices out and delete the home.";
  }
  if (err instanceof ApiError && err.status === 404) return "This home is no longer yours: it was deleted, or you were removed from it.";
  return `The home could not be left: ${err instanceof Error ? err.message : String(err)}`;
}
