/**
 * A device was erased: its logs (the DeviceLog object) and its uploaded log
 * files (R2) go with it. Its log_requests rows go by ON DELETE CASCADE.
 */
import { deviceLog } from "../stubs";
import { deviceFilesPrefix } from "./upload";

export async function eraseDeviceLogs(env: Env, deviceId: number): Promise<void> {
  await deviceLog(env, deviceId).erase();
  const prefix = deviceFilesPrefix(deviceId);
  let cursor: string | undefined;
  do {
    const page = await env.LOGS.list({ prefix, cursor });
    if (page.objects.length) await env.LOGS.delete(page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
}
