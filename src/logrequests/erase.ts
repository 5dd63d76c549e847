/**
 * A device was erased: its uploaded log files (R2) go with it (its log
 * entries went with its object's storage; its log_requests rows go by ON
 * DELETE CASCADE).
 */
import { deviceFilesPrefix } from "./upload";

export async function eraseDeviceLogs(env: Env, deviceId: number): Promise<void> {
  const prefix = deviceFilesPrefix(deviceId);
  let cursor: string | undefined;
  do {
    const page = await env.LOGS.list({ prefix, cursor });
    if (page.objects.length) await env.LOGS.delete(page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
}
