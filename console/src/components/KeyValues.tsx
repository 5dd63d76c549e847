/**
 * The device's key-value store: read through REST, kept current by the event
 * socket's `_deviceKVSaved_`/`_deviceKVDeleted_` (or a poll for a project key),
 * edited inline with `PUT`/`DELETE /devices/{id}/kv/{key}`. An edit or delete
 * of a key the page has a `rev` for carries `If-Match`, so a change someone
 * else made meanwhile is not overwritten: the page says so and shows it.
 *
 * By keyboard: Edit puts the focus in the value's field; Save, Cancel or
 * Escape put it back on the row's Edit button, so the user goes on from the
 * row they were at instead of from the top of the page.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, get, request } from "../api";
import { useLiveEvents, usePoll } from "../live";
import type { Session } from "../session";
import type { KeyValue } from "../types";
import { DataTable } from "./DataTable";
import { ErrorNote, json, parseJson, Section, time, useData } from "./ui";

const kvPath = (deviceId: number, key: string) => `/devices/${deviceId}/kv/${encodeURIComponent(key)}`;

export function KeyValues({ session, deviceId }: { session: Session; deviceId: number }) {
  const kv = useData(() => get<KeyValue[]>(`/devices/${deviceId}/kv`), [session.key, deviceId]);
  const [editing, setEditing] = useState<string | null>(null);
  // The rev of the value the edit started from: live updates may change the row meanwhile, the precondition must not.
  const [editingRev, setEditingRev] = useState<number | undefined>(undefined);
  const [draft, setDraft] = useState("");
  const [newKey, setNewKey] = useState("");
  const [newValue, setNewValue] = useState("");
  const [error, setError] = useState<unknown>(null);
  const field = useRef<HTMLTextAreaElement>(null);
  const editButtons = useRef(new Map<string, HTMLButtonElement>());
  // The key whose edit just ended: its Edit button (rendered anew once the field closes) takes the focus.
  const refocus = useRef<string | null>(null);

  useEffect(() => {
    if (editing !== null) {
      field.current?.focus();
      field.current?.select();
    } else if (refocus.current !== null) {
      editButtons.current.get(refocus.current)?.focus();
      refocus.current = null;
    }
  }, [editing]);

  /** Closes the field; the focus goes back to its row's Edit button. */
  function endEdit() {
    refocus.current = editing;
    setEditing(null);
  }

  useLiveEvents((e) => {
    if (e.originDeviceId !== deviceId) return;
    const key = e.eventData.key;
    if (typeof key !== "string") return;
    if (e.eventType === "_deviceKVSaved_") {
      const { rev, value } = e.eventData;
      // Every listed item has its rev (the next edit's If-Match) and its value: an event without them is read again instead.
      if (typeof rev !== "number" || value === undefined) return kv.reload();
      const item: KeyValue = { key, value, modificationTime: e.timestamp, rev };
      kv.setData((list) => {
        const rest = (list ?? []).filter((x) => x.key !== key);
        return [...rest, item].sort((a, b) => a.key.localeCompare(b.key));
      });
    } else if (e.eventType === "_deviceKVDeleted_") {
      kv.setData((list) => list?.filter((x) => x.key !== key));
    }
  });
  usePoll(kv.reload, session.kind === "key" && editing === null);

  /** `If-Match` with the rev the user saw (the edit's start, or the row for a delete); none for a new key. */
  const precondition = (key: string): Record<string, string> => {
    const rev = editing === key ? editingRev : kv.data?.find((x) => x.key === key)?.rev;
    return rev === undefined ? {} : { "if-match": `"${rev}"` };
  };

  /** A 412 means someone changed the key since it was shown: say so and show the current value. */
  function failed(e: unknown) {
    if (e instanceof ApiError && e.status === 412) {
      setError(new Error("This key changed since it was shown (someone else wrote it): the current value is now shown; edit again to replace it."));
      endEdit();
      kv.reload();
    } else setError(e);
  }

  async function save(key: string, text: string) {
    setError(null);
    try {
      const value = parseJson(text, `The value of ${key}`);
      await request("PUT", kvPath(deviceId, key), { value }, precondition(key));
      if (editing === key) endEdit();
      kv.reload();
      return true;
    } catch (e) {
      failed(e);
      return false;
    }
  }

  async function remove(key: string) {
    setError(null);
    try {
      await request("DELETE", kvPath(deviceId, key), undefined, precondition(key));
      kv.reload();
    } catch (e) {
      failed(e);
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
      <DataTable
        label="Key-values"
        rows={kv.data}
        rowKey={(item) => item.key}
        rowAttrs={(item) => ({ "data-key": item.key })}
        empty="No key-values yet."
        columns={[
          { head: "Key", rowHeader: true, cell: (item) => <code>{item.key}</code> },
          {
            head: "Value (JSON)",
            class: "value",
            cell: (item) =>
              editing === item.key ? (
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
                  <textarea
                    id={`kv-edit-${item.key}`}
                    ref={field}
                    rows={2}
                    spellcheck={false}
                    value={draft}
                    onInput={(e) => setDraft(e.currentTarget.value)}
                    onKeyDown={(e) => {
                      if (e.key !== "Escape") return;
                      // Escape here is the edit's, not the page's (e.g. the phone menu's).
                      e.stopPropagation();
                      endEdit();
                    }}
                  />
                  <button type="submit" class="primary">
                    Save
                  </button>
                  <button type="button" onClick={endEdit}>
                    Cancel
                  </button>
                </form>
              ) : (
                <code>{json(item.value)}</code>
              ),
          },
          { head: "Modified", class: "wide-only", cell: (item) => time(item.modificationTime) },
          {
            head: "Actions",
            srOnly: true,
            class: "actions",
            cell: (item) => (
              <>
                {editing !== item.key && (
                  <button
                    type="button"
                    aria-label={`Edit ${item.key}`}
                    ref={(el) => {
                      if (el) editButtons.current.set(item.key, el);
                      else editButtons.current.delete(item.key);
                    }}
                    onClick={() => {
                      setEditing(item.key);
                      setEditingRev(item.rev);
                      setDraft(JSON.stringify(item.value));
                    }}
                  >
                    Edit
                  </button>
                )}
                <button type="button" class="danger" aria-label={`Delete ${item.key}`} onClick={() => void remove(item.key)}>
                  Delete
                </button>
              </>
            ),
          },
        ]}
      />
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
