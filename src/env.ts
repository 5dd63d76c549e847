/**
 * The Hono environment of every route. Bindings come from the file generated
 * by `wrangler types` (worker-configuration.d.ts): never typed by hand.
 */
import type { Principal } from "./auth/principal";

export type AppEnv = {
  Bindings: Env;
  Variables: {
    /** Set once per request by `principalOf`; undefined until asked for. */
    principal?: Principal | null;
    /** When the request began (src/http/accessLog.ts). */
    started?: number;
    /** The body as the JSON guard read it (src/http/jsonGuard.ts); the Request's own stream is consumed then. */
    bodyBytes?: Uint8Array;
    /** Its access-log entry went with a forwarded upgrade, for the device's object to record (src/routes/deviceLive/shared.ts). */
    accessLogHandedOver?: boolean;
  };
};
