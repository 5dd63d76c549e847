/**
 * The service's refusals in words. Every error arrives as `{reason, data}`
 * with an HTTP status; this turns the common reasons into a sentence a person
 * can act on. The code itself stays visible, in small print after it, for
 * whoever reads the API reference or a log.
 */

export interface Explained {
  /** What happened and what to do, in a sentence or two. */
  text: string;
  /** `REASON (status)`, when it came from the service. */
  code?: string;
}

/** `limit` names from src/limits/registry.ts, read as words ("socketsPerDevice" → "sockets per device"). */
const words = (name: unknown) =>
  String(name ?? "")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase();

export function sentence(status: number, reason: string, data?: Record<string, unknown>): string {
  switch (reason) {
    case "INCORRECT_PASSWORD":
      return "The email or password is wrong.";
    case "AUTHORIZATION_REQUIRED":
      return "The service did not accept this key or session: it is missing, wrong or no longer valid. Sign in again.";
    case "PERMISSION_DENIED":
      return "This key or user may not do that here.";
    case "INVALID_INPUT": {
      const errors = data?.errors;
      if (errors && typeof errors === "object") {
        const fields = Object.entries(errors as Record<string, unknown>).map(([field, why]) => `${field} ${String(why)}`);
        if (fields.length) return `Check what you entered: ${fields.join("; ")}.`;
      }
      return "Something you entered is not accepted; check the fields.";
    }
    case "LIMIT_REACHED":
      return `That would go past a limit: at most ${String(data?.max ?? "so many")}${data?.limit ? ` (${words(data.limit)})` : ""}. Remove one first, or ask the operator to raise it.`;
    case "RATE_LIMITED": {
      const after = Number(data?.retryAfter);
      return `Too many tries in a short time${data?.limit ? ` (${words(data.limit)})` : ""}. Try again in ${Number.isFinite(after) && after > 0 ? `${after} s` : "a little while"}.`;
    }
    case "DEVICE_OFFLINE":
      return "The device is offline: it has no open connection to the service.";
    case "PROJECT_NOT_FOUND":
      return "There is no project with that ID (or this key is not one of its keys). Check the project ID.";
    case "DEVICE_NOT_FOUND":
      return "There is no such device, or it is not yours to see.";
    case "NETWORK_ERROR":
      return "The service could not be reached. Check the connection and try again.";
    default:
      if (status >= 500) return "The service failed to answer this; try again in a moment.";
      if (status === 404) return "That was not found.";
      return "The service refused this.";
  }
}

/** Any error a page caught, explained: an ApiError-like `{status, reason, data}` or a plain Error. */
export function explain(err: unknown): Explained {
  if (err && typeof err === "object" && "reason" in err && "status" in err) {
    const e = err as { status: number; reason: string; data?: Record<string, unknown> };
    return { text: sentence(e.status, e.reason, e.data), code: e.status ? `${e.reason} (${e.status})` : e.reason };
  }
  return { text: err instanceof Error ? err.message : String(err) };
}
