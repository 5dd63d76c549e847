/** The device's log entries (last 24 h) and its log-upload requests. */
import { useState } from "preact/hooks";
import { get, request } from "../api";
import type { LogEntry, LogRequest } from "../types";
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
        <div class="table-wrap scroll">
          <table aria-label="Log entries">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Level</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {entries.data?.map((e, i) => (
                <tr key={i}>
                  <td>{time(e.time)}</td>
                  <td>{e.level}</td>
                  <td>{e.message}</td>
                </tr>
              ))}
              {entries.data?.length === 0 && (
                <tr>
                  <td colSpan={3} class="empty">
                    No entries in the last 24 hours.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
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
        <div class="table-wrap">
          <table aria-label="Log requests">
            <thead>
              <tr>
                <th scope="col">Requested</th>
                <th scope="col">Status</th>
                <th scope="col">File</th>
              </tr>
            </thead>
            <tbody>
              {requests.data?.map((r) => (
                <tr key={r.id}>
                  <td>{time(r.creationTime)}</td>
                  <td>
                    {r.status}
                    {r.failureReason ? `: ${r.failureReason}` : ""}
                  </td>
                  <td>{r.status === "completed" ? `${r.fileSize ?? 0} bytes` : "—"}</td>
                </tr>
              ))}
              {requests.data?.length === 0 && (
                <tr>
                  <td colSpan={3} class="empty">
                    None yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </Section>
    </div>
  );
}
