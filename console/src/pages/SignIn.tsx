/** Sign in as a user (email and password) or with a pasted project key or operator token. */
import { useState } from "preact/hooks";
import { useKey } from "../api";
import { NewProject } from "../components/NewProject";
import { ErrorNote } from "../components/ui";
import { signInKey, signInUser, type Session } from "../session";

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [mode, setMode] = useState<"user" | "key">("user");
  const [projectId, setProjectId] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  /** The operator token with no project yet: the console starts from nothing, with a new project. */
  const [starting, setStarting] = useState(false);
  const operatorKey = mode === "key" && key.trim() !== "" && !key.trim().startsWith("mcp_");

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (operatorKey && projectId.trim() === "") {
        useKey(key.trim());
        setStarting(true);
        return;
      }
      const id = Number(projectId);
      onSignedIn(mode === "user" ? await signInUser(id, email.trim(), password) : await signInKey(id, key.trim()));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  if (starting) {
    return (
      <main class="signin">
        <div class="start">
          <h1>Start a project</h1>
          <p class="muted">Signed in with the operator token. Make a project and its first admin key; then sign in with that key to add device classes and devices.</p>
          <NewProject
            onSignIn={(s) => {
              location.hash = "#/project";
              onSignedIn(s);
            }}
          />
          <button
            type="button"
            onClick={() => {
              useKey(null);
              setStarting(false);
            }}
          >
            Back to sign-in
          </button>
        </div>
      </main>
    );
  }

  return (
    <main class="signin">
      <form class="card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Device console</h1>
        <p class="muted">Your devices, live: presence, key-values, commands and events.</p>
        <fieldset class="modes">
          <legend>Sign in with</legend>
          <label>
            <input type="radio" name="mode" value="user" checked={mode === "user"} onChange={() => setMode("user")} /> User email and password
          </label>
          <label>
            <input type="radio" name="mode" value="key" checked={mode === "key"} onChange={() => setMode("key")} /> Project API key or operator token
          </label>
        </fieldset>
        <label for="projectId">Project ID</label>
        <input id="projectId" name="projectId" type="number" min="1" required={!operatorKey} aria-describedby={mode === "key" ? "projectId-hint" : undefined} value={projectId} onInput={(e) => setProjectId(e.currentTarget.value)} />
        {mode === "user" ? (
          <>
            <label for="email">Email</label>
            <input id="email" name="email" type="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
            <label for="password">Password</label>
            <input
              id="password"
              name="password"
              type="password"
              autocomplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </>
        ) : (
          <>
            <label for="apiKey">Key</label>
            <input id="apiKey" name="apiKey" type="password" autocomplete="off" placeholder="mcp_… or the operator token" required value={key} onInput={(e) => setKey(e.currentTarget.value)} />
            <p class="hint" id="projectId-hint">
              With the operator token, leave the project ID empty to start a new project.
            </p>
            <p class="hint">A project key has no event socket: the console polls presence and key-values every few seconds instead.</p>
          </>
        )}
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
