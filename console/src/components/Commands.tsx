/**
 * Sending commands and following them: `PUT /devices/{id}/command` (with a
 * `ttl`, a command waits in the device's queue while it is offline: `202`),
 * and the device's recent commands from `GET /devices/{id}/commands`, whose
 * statuses move live on `_deviceCommandUpdated_` (or a poll for a project key).
 * Open commands can be cancelled.
 */
import { useState } from "preact/hooks";
import { ApiError, get, request } from "../api";
import { explain } from "../errors";
import { useLiveEvents, usePoll } from "../live";
import type { Session } from "../session";
import type { Command } from "../types";
import { DataTable } from "./DataTable";
import { ErrorNote, json, parseJson, Section, time, useData } from "./ui";

const RECENT = 10;

/**
 * A command's status in words. A command sent without `ttl` to an offline
 * device is refused (`503 DEVICE_OFFLINE`) yet kept in the history as
 * `expired`, completed the moment it was made: say it was refused.
 */
export function commandStatus(c: Command): string {
  if (c.status === "expired" && c.completionTime && new Date(c.completionTime).getTime() === new Date(c.creationTime).getTime()) return "refused: device offline";
  return c.status;
}
const OPEN: Command["status"][] = ["queued", "delivered"];

export function CommandForm({ deviceId, onSent }: { deviceId: number; onSent: () => void }) {
  const [action, setAction] = useState("");
  const [parameters, setParameters] = useState("{}");
  const [queue, setQueue] = useState(true);
  const [ttl, setTtl] = useState("3600");
  const [answer, setAnswer] = useState<{ ok: boolean; text: string; code?: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function send(e: Event) {
    e.preventDefault();
    setBusy(true);
    try {
      const params = parseJson(parameters || "{}", "Parameters");
      if (!params || typeof params !== "object" || Array.isArray(params)) throw new Error("Parameters must be a JSON object");
      const body = { action: action.trim(), parameters: params, ...(queue ? { ttl: Number(ttl) } : {}) };
      const a = await request<{ status?: string; expirationTime?: string }>("PUT", `/devices/${deviceId}/command`, body);
      const text =
        a.status === 204
          ? `Delivered to the device (${a.status}).`
          : a.status === 202 && a.body?.status === "queued"
            ? `Queued (202): the device is offline; it gets the command when it connects, until ${time(a.body.expirationTime)}.`
            : a.status === 202
              ? `Delivered to the device (202); it stays open until the device reports a result or ${time(a.body?.expirationTime)}.`
              : `${a.status}: ${JSON.stringify(a.body)}`;
      setAnswer({ ok: true, text });
      onSent();
    } catch (err) {
      const text = err instanceof ApiError && err.reason === "DEVICE_OFFLINE" ? "Not sent: the device is offline. Tick “Queue” to let it wait for the device." : `Not sent. ${explain(err).text}`;
      setAnswer({ ok: false, text, code: explain(err).code });
    } finally {
      setBusy(false);
    }
  }

  return (
    <Section title="Send a command">
      <form class="stack" onSubmit={send}>
        <label for="cmd-action">Action</label>
        <input id="cmd-action" required placeholder="e.g. sprinkler-on" value={action} onInput={(e) => setAction(e.currentTarget.value)} />
        <label for="cmd-params">Parameters (JSON object)</label>
        <textarea id="cmd-params" rows={4} spellcheck={false} value={parameters} onInput={(e) => setParameters(e.currentTarget.value)} />
        <div class="inline-choice">
          <label class="check">
            <input id="cmd-queue" type="checkbox" checked={queue} onChange={(e) => setQueue(e.currentTarget.checked)} /> Queue if the device is offline, for
          </label>
          <label class="sr-only" for="cmd-ttl">
            Seconds to wait for the device
          </label>
          {/* Up to 7 days, as the API allows (commandTtlSeconds). */}
          <input id="cmd-ttl" type="number" min={1} max={604800} required={queue} disabled={!queue} value={ttl} onInput={(e) => setTtl(e.currentTarget.value)} />
          <span aria-hidden="true">s</span>
        </div>
        <button type="submit" class="primary" disabled={busy}>
          Send command
        </button>
      </form>
      <p id="cmd-answer" role="status" class={answer ? (answer.ok ? "ok" : "error") : ""}>
        {answer?.text}
        {answer?.code && (
          <>
            {" "}
            <small class="error-code">{answer.code}</small>
          </>
        )}
      </p>
    </Section>
  );
}

/** The device's last commands, newest first, kept current. `version` changes when this page sent one. */
export function RecentCommands({ session, deviceId, version }: { session: Session; deviceId: number; version: number }) {
  const commands = useData(() => get<Command[]>(`/devices/${deviceId}/commands?limit=${RECENT}`), [session.key, deviceId, version]);
  const [error, setError] = useState<unknown>(null);
  useLiveEvents((e) => {
    if (e.originDeviceId === deviceId && e.eventType === "_deviceCommandUpdated_") commands.reload();
  });
  usePoll(commands.reload, session.kind === "key");

  async function cancel(c: Command) {
    setError(null);
    try {
      await request("DELETE", `/devices/${deviceId}/commands/${encodeURIComponent(c.commandId)}`);
      commands.reload();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <Section title="Recent commands">
      <ErrorNote error={commands.error ?? error} />
      <DataTable
        label="Recent commands"
        rows={commands.data}
        rowKey={(c) => c.commandId}
        rowAttrs={(c) => ({ "data-command-id": c.commandId, "data-status": c.status })}
        empty="No commands yet."
        columns={[
          { head: "Sent", cell: (c) => time(c.creationTime) },
          { head: "Action", cell: (c) => <code>{c.action}</code> },
          { head: "Status", cell: (c) => commandStatus(c) },
          { head: "Result", class: "wide-only", cell: (c) => (c.result ? <code>{json(c.result)}</code> : "—") },
          {
            head: "Actions",
            srOnly: true,
            class: "actions",
            cell: (c) =>
              OPEN.includes(c.status) && (
                <button type="button" class="danger" aria-label={`Cancel ${c.action}`} onClick={() => void cancel(c)}>
                  Cancel
                </button>
              ),
          },
        ]}
      />
    </Section>
  );
}
