/** Homes (the user's, or all of the project's for a key) and one home's members. */
import { useState } from "preact/hooks";
import { get, query, request } from "../api";
import { ErrorNote, Section, time, useData } from "../components/ui";
import { href } from "../router";
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
      <div class="table-wrap">
        <table aria-label="Homes">
          <thead>
            <tr>
              <th scope="col">ID</th>
              <th scope="col">Name</th>
              <th scope="col">Created</th>
              <th scope="col">Devices</th>
            </tr>
          </thead>
          <tbody>
            {homes.data?.map((h) => (
              <tr key={h.id}>
                <td>{h.id}</td>
                <td>
                  <a href={href(`homes/${h.id}`)}>{h.name}</a>
                </td>
                <td>{time(h.creationTime)}</td>
                <td>
                  <a href={href("devices", { home: h.id })}>Devices of {h.name}</a>
                </td>
              </tr>
            ))}
            {homes.data?.length === 0 && (
              <tr>
                <td colSpan={4} class="empty">
                  No homes yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
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
        <div class="table-wrap">
          <table aria-label="Members">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {members.data?.map((m) => (
                <tr key={m.userId}>
                  <td>{m.name}</td>
                  <td>{m.email}</td>
                  <td>{m.role}</td>
                  <td class="actions">
                    <button type="button" class="danger" aria-label={`Remove ${m.email}`} onClick={() => void remove(m)}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
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
    </>
  );
}
