/**
 * The device's log entries (last 24 h, newest first, kept current) and its
 * log-upload requests.
 *
 * No socket carries log entries, so the page asks again every POLL_MS while
 * it is visible, for the tail only: from a little before the newest entry it
 * has. The API answers oldest first, at most `maxEntries` a call; a window
 * that fills a call is read on from its last entry's time.
 */
import { useRef, useState } from "preact/hooks";
import { get, request } from "../api";
import { POLL_MS, usePollWhileVisible } from "../live";
import type { LogEntry, LogRequest } from "../types";
import { DataTable } from "./DataTable";
import { ErrorNote, Section, time, useData } from "./ui";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Entries shown at most: the newest. */
const SHOWN = 100;
/** Entries one call returns at most (the API's cap). */
const PAGE = 1000;
/**
 * How far before the newest entry each refresh reads again: entries the
 * worker writes in batches can land a moment after later ones, stamped with
 * their own (earlier) time.
 */
const OVERLAP_MS = 10_000;
/** Log-upload requests whose status may still change. */
const OPEN_REQUEST = new Set<LogRequest["status"]>(["pending", "delivered", "uploading"]);

/**
 * The newest SHOWN entries from `begin` on, oldest first. The window ends a
 * day ahead: entries are stamped by the service's clock, which this page's may
 * be behind.
 */
async function readFrom(deviceId: number, begin: number): Promise<LogEntry[]> {
  const end = new Date(Date.now() + DAY_MS).toISOString();
  let all: LogEntry[] = [];
  let from = new Date(begin).toISOString();
  for (;;) {
    const page = await get<LogEntry[]>(`/devices/${deviceId}/logEntries?begin=${from}&end=${end}&maxEntries=${PAGE}`);
    if (page.length < PAGE) return [...all, ...page].slice(-SHOWN);
    const last = page[page.length - 1]!.time;
    const whole = page.filter((e) => e.time !== last);
    if (whole.length === 0) {
      // A full page of one instant: keep it, and go on after that instant (the rest of it is skipped).
      all = [...all, ...page].slice(-SHOWN);
      from = new Date(Date.parse(last) + 1).toISOString();
    } else {
      // The last instant's entries may go on in the next page: read them there, whole.
      all = [...all, ...whole].slice(-SHOWN);
      from = last;
    }
  }
}

export function DeviceLogs({ deviceId }: { deviceId: number }) {
  // Oldest first, as the API answers; shown reversed.
  const entries = useData(() => readFrom(deviceId, Date.now() - DAY_MS), [deviceId]);
  const requests = useData(() => get<LogRequest[]>(`/devices/${deviceId}/logRequests`), [deviceId]);
  const [error, setError] = useState<unknown>(null);
  const busy = useRef(false);

  /** Reads the tail again and puts it in place of what the page had from that time on. */
  async function refresh() {
    const had = entries.data;
    if (busy.current || !had) return;
    busy.current = true;
    try {
      const newest = had.length ? Date.parse(had[had.length - 1]!.time) : Date.now() - DAY_MS;
      const since = Math.max(newest - OVERLAP_MS, Date.now() - DAY_MS);
      const tail = await readFrom(deviceId, since);
      entries.setData((list) => {
        const kept = (list ?? []).filter((e) => Date.parse(e.time) < since && Date.parse(e.time) >= Date.now() - DAY_MS);
        return [...kept, ...tail].slice(-SHOWN);
      });
    } catch {
      // A missed refresh is tried again at the next; the Refresh button reports errors.
    } finally {
      busy.current = false;
    }
  }
  usePollWhileVisible(() => {
    void refresh();
    // Requests still on their way are read again with the entries, so their status moves by itself.
    if (requests.data?.some((r) => OPEN_REQUEST.has(r.status))) requests.reload();
  });

  async function ask() {
    setError(null);
    try {
      await request("POST", `/devices/${deviceId}/logRequests`, {});
      requests.reload();
    } catch (e) {
      setError(e);
    }
  }

  return (
    <div class="columns">
      <Section
        title="Log entries"
        actions={
          <button type="button" onClick={entries.reload}>
            Refresh log entries
          </button>
        }
      >
        <ErrorNote error={entries.error} />
        <p class="hint">
          The service's own record of this device over the last 24 hours, newest first. New entries appear by themselves (checked every {POLL_MS / 1000} s while this
          page is open).
        </p>
        <DataTable
          label="Log entries"
          scroll
          rows={entries.data && [...entries.data].reverse()}
          rowKey={(_, i) => i}
          rowAttrs={(e) => ({ "data-time": e.time })}
          empty="No entries in the last 24 hours."
          columns={[
            { head: "Time", cell: (e) => time(e.time) },
            { head: "Level", cell: (e) => e.level },
            { head: "Message", cell: (e) => e.message },
          ]}
        />
      </Section>
      <Section
        title="Log requests"
        actions={
          <button type="button" onClick={() => void ask()}>
            Request logs
          </button>
        }
      >
        <ErrorNote error={requests.error ?? error} />
        <p class="hint">Asks the device to upload its log files (delivered on its command socket).</p>
        <DataTable
          label="Log requests"
          rows={requests.data}
          rowKey={(r) => r.id}
          empty="None yet."
          columns={[
            { head: "Requested", cell: (r) => time(r.creationTime) },
            { head: "Status", cell: (r) => `${r.status}${r.failureReason ? `: ${r.failureReason}` : ""}` },
            { head: "File", cell: (r) => (r.status === "completed" ? `${r.fileSize ?? 0} bytes` : "—") },
          ]}
        />
      </Section>
    </div>
  );
}
