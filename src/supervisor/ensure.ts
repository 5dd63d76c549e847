import { supervisor } from "../stubs";

/** Once per isolate: makes sure the supervisor's tick is armed (it keeps itself armed after that). */
let ensured = false;
export function ensureSupervisor(env: Pick<Env, "SUPERVISOR">, ctx: { waitUntil(p: Promise<unknown>): void }): void {
  if (ensured) return;
  ensured = true;
  ctx.waitUntil(
    supervisor(env)
      .ensure()
      .catch((err: unknown) => {
        ensured = false;
        console.error("arming the supervisor failed; the next request tries again", err);
      }),
  );
}
