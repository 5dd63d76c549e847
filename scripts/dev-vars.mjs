// Local secrets for `npm start` (scripts/start.mjs). wrangler dev reads
// OPERATOR_TOKEN and KEY_ENCRYPTION_KEY from .dev.vars when that file exists
// and then ignores the environment; only without a .dev.vars does it take
// them from the environment. So:
//   - no .dev.vars and both secrets in the environment: use those, write nothing;
//   - otherwise generate whichever is missing from .dev.vars (git-ignored) into
//     it. Existing values are never overwritten: a changed KEY_ENCRYPTION_KEY
//     would make every stored device key and claim code unreadable.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { parseEnv } from "node:util";

export const DEV_VARS = new URL("../.dev.vars", import.meta.url);

const generators = {
  OPERATOR_TOKEN: () => `op_${randomBytes(32).toString("base64url")}`,
  KEY_ENCRYPTION_KEY: () => randomBytes(32).toString("base64"),
};
const names = Object.keys(generators);

/**
 * Makes sure wrangler dev will find both secrets; returns the operator token
 * it will use, where it comes from, and notes worth showing the user.
 * @returns {{ token: string, source: ".dev.vars" | "environment", notes: string[] }}
 */
export function prepareDevVars() {
  const exists = existsSync(DEV_VARS);
  if (!exists && names.every((name) => process.env[name])) {
    return { token: process.env.OPERATOR_TOKEN, source: "environment", notes: [] };
  }
  const current = exists ? readFileSync(DEV_VARS, "utf8") : "";
  const values = parseEnv(current);
  const notes = [];
  const additions = [];
  for (const name of names) {
    if (!values[name]) {
      values[name] = generators[name]();
      additions.push(`${name}=${values[name]}`);
      notes.push(`Generated ${name} into .dev.vars.`);
    }
    if (process.env[name] && process.env[name] !== values[name]) {
      notes.push(`${name} from your environment is not used: wrangler dev takes it from .dev.vars.`);
    }
  }
  if (additions.length) {
    const separator = current && !current.endsWith("\n") ? "\n" : "";
    writeFileSync(DEV_VARS, current + separator + additions.join("\n") + "\n", { mode: 0o600 });
  }
  return { token: values.OPERATOR_TOKEN, source: ".dev.vars", notes };
}
