/** Sends `PUT /devices/{id}/command {action, parameters}` and shows the service's answer. */
import { useState } from "preact/hooks";
import { ApiError, request } from "../api";
import { parseJson, Section } from "./ui";

export function CommandForm({ deviceId }: { deviceId: number }) {
  const [action, setAction] = useState("");
  const [parameters, setParameters] = useState("{}");
  const [answer, setAnswer] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function send(e: Event) {
    e.preventDefault();
    setBusy(true);
    try {
      const params = parseJson(parameters || "{}", "Parameters");
      if (!params || typeof params !== "object" || Array.isArray(params)) throw new Error("Parameters must be a JSON object");
      const a = await request("PUT", `/devices/${deviceId}/command`, { action: action.trim(), parameters: params });
      setAnswer({ ok: true, text: a.status === 204 ? `Delivered to the device (${a.status}).` : `${a.status}: ${JSON.stringify(a.body)}` });
    } catch (err) {
      const text = err instanceof ApiError && err.reason === "DEVICE_OFFLINE" ? "Not sent: the device is offline (503 DEVICE_OFFLINE)." : String((err as Error).message);
      setAnswer({ ok: false, text });
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
        <button type="submit" class="primary" disabled={busy}>
          Send command
        </button>
      </form>
      <p id="cmd-answer" role="status" class={answer ? (answer.ok ? "ok" : "error") : ""}>
        {answer?.text}
      </p>
    </Section>
  );
}
