/** For the operator and admin keys: the project's API keys and device classes. */
import { useState } from "preact/hooks";
import { get, request } from "../api";
import { DataTable } from "../components/DataTable";
import { ErrorNote, Section, time, useData } from "../components/ui";
import type { Session } from "../session";
import type { ApiKey, DeviceClass } from "../types";

export function Project({ session }: { session: Session }) {
  const base = `/projects/${session.project.id}`;
  const keys = useData(() => get<(ApiKey & { creationTime: string })[]>(`${base}/apiKeys`), [session.key]);
  const classes = useData(() => get<DeviceClass[]>(`${base}/deviceClasses`), [session.key]);
  const [keyName, setKeyName] = useState("");
  const [keyAdmin, setKeyAdmin] = useState(false);
  const [newKey, setNewKey] = useState<ApiKey | null>(null);
  const [classId, setClassId] = useState("");
  const [className, setClassName] = useState("");
  const [error, setError] = useState<unknown>(null);

  const attempt = async (fn: () => Promise<void>) => {
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <>
      <h1>Keys and classes</h1>
      <ErrorNote error={error} />
      <Section title="API keys">
        <ErrorNote error={keys.error} />
        {newKey && (
          <div class="callout" role="status">
            <p>
              New key <strong>{newKey.name}</strong> — shown only now, copy it:
            </p>
            <code class="secret">{newKey.key}</code>
          </div>
        )}
        <DataTable
          label="API keys"
          rows={keys.data}
          rowKey={(k) => k.id}
          columns={[
            { head: "ID", cell: (k) => k.id },
            { head: "Name", cell: (k) => k.name },
            { head: "Admin", cell: (k) => (k.admin ? "yes" : "no") },
            { head: "Created", cell: (k) => time(k.creationTime) },
            {
              head: "Actions",
              srOnly: true,
              class: "actions",
              cell: (k) => (
                <button
                  type="button"
                  class="danger"
                  aria-label={`Delete key ${k.name}`}
                  onClick={() =>
                    void attempt(async () => {
                      if (!confirm(`Delete the key "${k.name}"? Whatever uses it stops working.`)) return;
                      await request("DELETE", `${base}/apiKeys/${k.id}`);
                      keys.reload();
                    })
                  }
                >
                  Delete
                </button>
              ),
            },
          ]}
        />
        <form
          class="row-form"
          onSubmit={(e) => {
            e.preventDefault();
            void attempt(async () => {
              const a = await request<ApiKey>("POST", `${base}/apiKeys`, { name: keyName, admin: keyAdmin });
              setNewKey(a.body);
              setKeyName("");
              keys.reload();
            });
          }}
        >
          <div class="field grow">
            <label for="key-name">Key name</label>
            <input id="key-name" required value={keyName} onInput={(e) => setKeyName(e.currentTarget.value)} />
          </div>
          <label class="check">
            <input type="checkbox" checked={keyAdmin} onChange={(e) => setKeyAdmin(e.currentTarget.checked)} /> Admin
          </label>
          <button type="submit">Create key</button>
        </form>
      </Section>
      <Section title="Device classes">
        <ErrorNote error={classes.error} />
        <DataTable
          label="Device classes"
          rows={classes.data}
          rowKey={(c) => c.id}
          columns={[
            { head: "ID", cell: (c) => <code>{c.id}</code> },
            { head: "Name", cell: (c) => c.name },
          ]}
        />
        <form
          class="row-form"
          onSubmit={(e) => {
            e.preventDefault();
            void attempt(async () => {
              await request("POST", `${base}/deviceClasses`, { id: classId, name: className });
              setClassId("");
              setClassName("");
              classes.reload();
            });
          }}
        >
          <div class="field">
            <label for="class-id">Class ID</label>
            <input id="class-id" required value={classId} onInput={(e) => setClassId(e.currentTarget.value)} />
          </div>
          <div class="field grow">
            <label for="class-name">Class name</label>
            <input id="class-name" required value={className} onInput={(e) => setClassName(e.currentTarget.value)} />
          </div>
          <button type="submit">Add class</button>
        </form>
      </Section>
    </>
  );
}
