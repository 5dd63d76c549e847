/**
 * The shape every outbound URL a project configures must have (App Proxy
 * targets, webhooks): absolute http(s), no credentials in it (the receiver
 * verifies our signature instead), no fragment, and — where the caller's own
 * query is appended — no query of its own. Where it may point is the other
 * half of the rule: targets.ts.
 */
import { LIMIT } from "../limits/registry";
import { z } from "@hono/zod-openapi";

export interface OutboundUrlRules {
  /** May the URL carry a query? */
  query: boolean;
  /** What a receiver verifies instead of credentials in the URL (named in the error). */
  verify: string;
}

/** A zod string → URL schema applying `rules`; `store` turns the parsed URL into the stored text. */
export function outboundUrlSchema(rules: OutboundUrlRules, store: (url: URL) => string) {
  return z
    .string()
    .max(LIMIT.urlChars, `at most ${LIMIT.urlChars} characters`)
    .transform((s, ctx) => {
      let url: URL;
      try {
        url = new URL(s);
      } catch {
        ctx.addIssue({ code: "custom", message: "must be an absolute URL" });
        return z.NEVER;
      }
      const problem =
        url.protocol !== "https:" && url.protocol !== "http:"
          ? "must be an http or https URL"
          : url.username || url.password
            ? `must not carry credentials (verify ${rules.verify} instead)`
            : !rules.query && (url.search || s.includes("?"))
              ? "must not have a query"
              : url.hash || s.includes("#")
                ? "must not have a fragment"
                : null;
      if (problem) {
        ctx.addIssue({ code: "custom", message: problem });
        return z.NEVER;
      }
      return store(url);
    });
}
