// Prepares local secrets for `npm start`: when neither .dev.vars nor the
// environment provides OPERATOR_TOKEN and KEY_ENCRYPTION_KEY, generate them
// into .dev.vars (git-ignored) and print the operator token, so a new user can
// make the first call at once. Existing values are never overwritten.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const file = new URL("../.dev.vars", import.meta.url);
const current = existsSync(file) ? readFileSync(file, "utf8") : "";
const has = (name) => new RegExp(`^${name}=.+`, "m").test(current) || Boolean(process.env[name]);

const additions = [];
if (!has("OPERATOR_TOKEN")) additions.push(`OPERATOR_TOKEN=op_${randomBytes(32).toString("base64url")}`);
if (!has("KEY_ENCRYPTION_KEY")) additions.push(`KEY_ENCRYPTION_KEY=${randomBytes(32).toString("base64")}`);
if (additions.length) {
  writeFileSync(file, current + (current && !current.endsWith("\n") ? "\n" : "") + additions.join("\n") + "\n", { mode: 0o600 });
}
const token = process.env.OPERATOR_TOKEN ?? /^OPERATOR_TOKEN=(.+)$/m.exec(readFileSync(file, "utf8"))?.[1];
console.log(`\nOperator token (Authorization: ModeCloud <token>):\n  ${token}\n(kept in .dev.vars)\n`);
