/**
 * The operator starts from nothing: a project (`POST /projects`) and its first
 * admin key (`POST /projects/{id}/apiKeys {admin: true}`), the key shown once
 * with a Copy button, and a way to sign in with it. Uses the key the console
 * holds now (the operator token).
 */
import { useRef, useState } from "preact/hooks";
import { request } from "../api";
import { signInKey, type Session } from "../session";
import type { ApiKey, Project } from "../types";
import { Copyable, ErrorNote, Section } from "./ui";

export function NewProject({ onSignIn }: { onSignIn: (s: Session) => void }) {
  const [name, setName] = useState("");
  const [provisioning, setProvisioning] = useState<"preProvisioned" | "onDemand">("preProvisioned");
  const [keyName, setKeyName] = useState("admin");
  const [made, setMade] = useState<{ project: Project; key: ApiKey } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const result = useRef<HTMLDivElement>(null);

  async function create(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const project = (await request<Project>("POST", "/projects", { name: name.trim(), provisioning })).body;
      const key = (await request<ApiKey>("POST", `/projects/${project.id}/apiKeys`, { name: keyName.trim(), admin: true })).body;
      setMade({ project, key });
      setName("");
      // The key is shown once: take the reader (and a screen reader) straight to it.
      setTimeout(() => result.current?.focus(), 0);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  async function signIn() {
    if (!made) return;
    setBusy(true);
    setError(null);
    try {
      onSignIn(await signInKey(made.project.id, made.key.key ?? ""));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  return (
    <Section title="New project">
      {made && (
        <div class="callout" role="status" tabIndex={-1} ref={result} data-new-project={made.project.id}>
          <p>
            Project <strong>{made.project.name}</strong> <span class="muted">#{made.project.id}</span> is made, with the admin key <strong>{made.key.name}</strong>. The
            key is shown only now: copy it.
          </p>
          <Copyable id="new-project-key" text={made.key.key ?? ""} label="Copy the new admin key" />
          <div class="actions-row">
            <button type="button" class="primary sentence" id="use-new-key" disabled={busy} onClick={() => void signIn()}>
              Sign in to {made.project.name} with this key
            </button>
          </div>
        </div>
      )}
      <form class="row-form" onSubmit={create} aria-label="New project">
        <div class="field grow">
          <label for="project-name">Project name</label>
          <input id="project-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="project-provisioning">Devices are</label>
          <select id="project-provisioning" value={provisioning} onChange={(e) => setProvisioning(e.currentTarget.value as "preProvisioned" | "onDemand")}>
            <option value="preProvisioned">made here first (pre-provisioned)</option>
            <option value="onDemand">made when they first connect (on demand)</option>
          </select>
        </div>
        <div class="field">
          <label for="project-key-name">First admin key's name</label>
          <input id="project-key-name" required value={keyName} onInput={(e) => setKeyName(e.currentTarget.value)} />
        </div>
        <button type="submit" disabled={busy}>
          Create project and key
        </button>
      </form>
      <ErrorNote error={error} />
    </Section>
  );
}
