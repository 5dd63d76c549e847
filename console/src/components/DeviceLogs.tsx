/** The device's log entries (last 24 h) and its log-upload requests. */
import { useState } from "preact/hooks";
import { get, request } from "../api";
import type { LogEntry, LogRequest } from "../types";
import { DataTable } from "./DataTable";
import { ErrorNote, Section, time, useData } from "./ui";

const DAY_MS = 24 * 60 * 60 * 1000;

export function DeviceLogs({ deviceId }: { deviceId: number }) {
  const entries = useData(() => {
    const end = new Date();
    const begin = new Date(end.getTime() - DAY_MS);
    return get<LogEntry[]>(`/devices/${deviceId}/logEntries?begin=${begin.toISOString()}&end=${end.toISOString()}&maxEntries=100`);
  }, [deviceId]);
  const requests = useData(() => get<LogRequest[]>(`/devices/${deviceId}/logRequests`), [deviceId]);
  const [error, setError] = useState<unknown>(null);

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
        <p class="hint">The service's own record of this device over the last 24 hours, newest last.</p>
        <DataTable
          label="Log entries"
          scroll
          rows={entries.data}
          rowKey={(_, i) => i}
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
