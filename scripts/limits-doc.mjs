// Writes docs/limits.md from the limits registry (src/limits/registry.ts),
// so the page cannot drift from the code. `--check` writes nothing and fails
// when the page is not what the registry makes (CI runs it).
//
//   npm run limits:doc            # regenerate docs/limits.md
//   npm run limits:doc -- --check # fail if it is stale
//
// Node 22 reads the registry's TypeScript directly (type stripping): the
// registry is plain data with no imports for that reason.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { REGISTRY } from "../src/limits/registry.ts";

const root = path.resolve(import.meta.dirname, "..");
const target = path.join(root, "docs/limits.md");

const KINDS = [
  ["rate", "Rates", "So many in a window. Past it: `429 {\"reason\": \"RATE_LIMITED\", \"data\": {\"limit\", \"retryAfter\"}}` and a `Retry-After` header."],
  ["cap", "Caps", "So many may exist at once. Past it: `409 {\"reason\": \"LIMIT_REACHED\", \"data\": {\"limit\", \"max\"}}`, unless the row says otherwise. A cap kept in D1 is checked by counting before the insert, so creates racing each other may each pass: it can be exceeded by as many as are in flight at once (it bounds growth; it is not a quota to the unit). Caps kept in an object (sockets, streams, webhooks) are exact."],
  ["size", "Sizes", "How large or long one thing may be. A body past it: `413 {\"reason\": \"REQUEST_TOO_LARGE\", \"data\": {\"limit\", \"max\", \"maxBytes\"}}`; a field: `400 INVALID_INPUT` naming the field."],
  ["kept", "What is kept", "History the service keeps; the oldest goes, nobody is refused."],
  ["time", "Times", "Durations a caller meets."],
];

const number = (n) => (n >= 1024 * 1024 && n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB (${n.toLocaleString("en-US")})` : n >= 1024 && n % 1024 === 0 && n < 1024 * 1024 ? `${n / 1024} KiB (${n.toLocaleString("en-US")})` : n.toLocaleString("en-US"));
const cell = (s) => String(s).replaceAll("|", "\\|").replaceAll("\n", " ");

export function render() {
  const lines = [
    "# Limits",
    "",
    "<!-- Generated from src/limits/registry.ts by `npm run limits:doc`; edit the registry, not this page. -->",
    "",
    "Every limit the service enforces, from the one registry in the code",
    "(`src/limits/registry.ts`). A refusal names its limit: `data.limit` is the",
    "name in the first column, `data.max` the number in force. A limit with a",
    "var takes a whole number ≥ 0 from it (`wrangler.toml` `[vars]`,",
    "`.dev.vars`, `--var NAME:value`, or the dashboard); `0` turns it off where",
    "the row says *may be off*, otherwise the value stands.",
    "",
    "Requests without a client address or from the machine itself (local",
    "development, tests, `npm run bench`) are not counted per address; in",
    "production Cloudflare sets `CF-Connecting-IP` on every request.",
    "",
  ];
  for (const [kind, title, intro] of KINDS) {
    const rows = Object.entries(REGISTRY).filter(([, spec]) => spec.kind === kind);
    if (rows.length === 0) continue;
    lines.push(`## ${title}`, "", intro, "", "| limit (`data.limit`) | value | what | counted or checked | var | past it |", "|---|---|---|---|---|---|");
    for (const [name, spec] of rows) {
      const v = spec.var ? `\`${spec.var}\`${spec.off ? " (may be off)" : ""}` : "—";
      lines.push(`| \`${name}\` | ${number(spec.value)} ${cell(spec.unit)} | ${cell(spec.what)} | ${cell(spec.where)} | ${v} | ${cell(spec.answer ?? "as above")} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

if (process.argv[1] && import.meta.filename === path.resolve(process.argv[1])) {
  const text = render();
  if (process.argv.includes("--check")) {
    const current = (() => {
      try {
        return readFileSync(target, "utf8");
      } catch {
        return "";
      }
    })();
    if (current !== text) {
      console.error("docs/limits.md is not what src/limits/registry.ts makes: run npm run limits:doc and commit it");
      process.exit(1);
    }
    console.log("docs/limits.md is current");
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${path.relative(root, target)} (${Object.keys(REGISTRY).length} limits)`);
  }
}
