/**
 * The device's key-value store: read through REST, kept current by the event
 * socket's `_deviceKVSaved_`/`_deviceKVDeleted_` (or a poll for a project key),
 * edited inline with `PUT`/`DELETE /devices/{id}/kv/{key}`.
 */
import { useState } from "preact/hooks";
import { get, request } from "../api";
import { useLiveEvents, usePoll } from "../live";
import type { Session } from "../session";
import type { KeyValue } from "../types";
import { ErrorNote, json, parseJson, Section, time, useData } from "./ui";

const kvPath = (deviceId: number, key: string) => `/devices/${deviceId}/kv/${encodeURIComponent(key)}`;

export function KeyValues({ session, deviceId }: { session: Session; deviceId: number }) {
  const kv = useData(() => get<KeyValue[]>(`/devices/${deviceId}/kv`), [session.key, deviceId]);
  const [editing, setEditing] = useState<string | null>(null);
  const [draft, setDraft] = useState("");
  const [newKey, setNewKey] = useState("");
  const [newValue, setNewValue] = useState("");
  const [error, setError] = useState<unknown>(null);

  useLiveEvents((e) => {
    if (e.originDeviceId !== deviceId) return;
    const key = e.eventData.key;
    if (typeof key !== "string") return;
    if (e.eventType === "_deviceKVSaved_") {
      const item: KeyValue = { key, value: e.eventData.value, modificationTime: e.timestamp };
      kv.setData((list) => {
        const rest = (list ?? []).filter((x) => x.key !== key);
        return [...rest, item].sort((a, b) => a.key.localeCompare(b.key));
      });
    } else if (e.eventType === "_deviceKVDeleted_") {
      kv.setData((list) => list?.filter((x) => x.key !== key));
    }
  });
  usePoll(kv.reload, session.kind === "key" && editing === null);

  async function save(key: string, text: string) {
    setError(null);
    try {
      const value = parseJson(text, `The value of ${key}`);
      await request("PUT", kvPath(deviceId, key), { value });
      setEditing(null);
      kv.reload();
      return true;
    } catch (e) {
      setError(e);
      return false;
    }
  }

  async function remove(key: string) {
    setError(null);
    try {
      await request("DELETE", kvPath(deviceId, key));
      kv.reload();
    } catch (e) {
      setError(e);
    }
  }

  async function add(e: Event) {
    e.preventDefault();
    if (await save(newKey.trim(), newValue)) {
      setNewKey("");
      setNewValue("");
    }
  }

  return (
    <Section title="Key-values">
      <ErrorNote error={kv.error ?? error} />
      <div class="table-wrap">
        <table aria-label="Key-values">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Value (JSON)</th>
              <th scope="col" class="wide-only">Modified</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {kv.data?.map((item) => (
              <tr key={item.key} data-key={item.key}>
                <th scope="row">
                  <code>{item.key}</code>
                </th>
                <td class="value">
                  {editing === item.key ? (
                    <form
                      class="inline"
                      onSubmit={(e) => {
                        e.preventDefault();
                        void save(item.key, draft);
                      }}
                    >
                      <label class="sr-only" for={`kv-edit-${item.key}`}>
                        New value of {item.key} (JSON)
                      </label>
                      <textarea id={`kv-edit-${item.key}`} rows={2} spellcheck={false} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
                      <button type="submit" class="primary">
                        Save
                      </button>
                      <button type="button" onClick={() => setEditing(null)}>
                        Cancel
                      </button>
                    </form>
                  ) : (
                    <code>{json(item.value)}</code>
                  )}
                </td>
                <td class="wide-only">{time(item.modificationTime)}</td>
                <td class="actions">
                  {editing !== item.key && (
                    <button
                      type="button"
                      aria-label={`Edit ${item.key}`}
                      onClick={() => {
                        setEditing(item.key);
                        setDraft(JSON.stringify(item.value));
                      }}
                    >
                      Edit
                    </button>
                  )}
                  <button type="button" class="danger" aria-label={`Delete ${item.key}`} onClick={() => void remove(item.key)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
            {kv.data?.length === 0 && (
              <tr>
                <td colSpan={4} class="empty">
                  No key-values yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <form class="row-form" onSubmit={add}>
        <div class="field">
          <label for="kv-new-key">New key</label>
          <input id="kv-new-key" required value={newKey} onInput={(e) => setNewKey(e.currentTarget.value)} />
        </div>
        <div class="field grow">
          <label for="kv-new-value">Value (JSON)</label>
          <input id="kv-new-value" required placeholder='e.g. 42, "on", {"zone":2}' value={newValue} onInput={(e) => setNewValue(e.currentTarget.value)} />
        </div>
        <button type="submit">Add key-value</button>
      </form>
    </Section>
  );
}
