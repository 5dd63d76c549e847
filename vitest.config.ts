import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// wrangler, reading wrangler.toml for the pool, announces where it found the
// required secrets, or that it found none: the tests pass them as bindings
// below, so either line would mislead. Its errors still show.
process.env.WRANGLER_LOG ??= "error";

// Tests run inside workerd with the real bindings of wrangler.toml: local D1,
// SQLite-backed Durable Objects and R2. Migrations are handed to a setup file
// that applies them, as wrangler would.
//
// Two projects share that setup and differ in one thing: the per-device rates
// (counted inside each device's object, which reads them from its own
// bindings). "api" turns them off, because many behaviour tests drive one
// device far past 100 actions in 10 s (the key-value journal needs 1,000+
// changes); "limits" (test/limits) runs with the production defaults of
// wrangler.toml and shows each limit refusing.
export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  const worker = (bindings: Record<string, string>) =>
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: migrations,
          OPERATOR_TOKEN: "test-operator-token",
          // 32 bytes of 0x2a in base64: a fixed key for tests only.
          KEY_ENCRYPTION_KEY: "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
          // Short, so the App Proxy timeout test (504) does not wait 10 s.
          APP_PROXY_TIMEOUT_MS: "1500",
          // The App Proxy tests forward to a real server on 127.0.0.1 (test/setup/app-target.ts);
          // test/appProxy/targets.test.ts turns it off per request to test the refusals.
          ALLOW_PRIVATE_TARGETS: "true",
          // Mail goes to the stand-in mail service below (EMAIL), whose inbox tests read (MAILBOX).
          EMAIL_FROM: "no-reply@cloud.test",
          // Webhook retries at once, so a delivery's eight attempts and its dead letter take seconds.
          WEBHOOK_RETRY_DELAYS: "0",
          ...bindings,
        },
        serviceBindings: { EMAIL: { name: "mailbox", entrypoint: "Mailbox" }, MAILBOX: "mailbox" },
        workers: [{ name: "mailbox", modules: true, scriptPath: "./test/setup/mailbox.mjs", compatibilityDate: "2026-11-01" }],
      },
    });
  return {
    // The same alias as wrangler.toml's [alias] (which the pool does not read): mqtt-packet's parser gets bl's BufferList only.
    resolve: { alias: [{ find: /^bl$/, replacement: path.join(import.meta.dirname, "node_modules/bl/BufferList.js") }] },
    test: {
      setupFiles: ["./test/setup/apply-migrations.ts"],
      // A real HTTP server (in Node) for the App Proxy tests to forward to;
      // FC_SEED for the property-based tests (test/hardening) to replay;
      // workerd's lines for the resets a passing run makes on purpose dropped.
      globalSetup: ["./test/setup/app-target.ts", "./test/setup/fc-seed.ts", "./test/setup/quiet-resets.ts"],
      projects: [
        {
          extends: true,
          plugins: [worker({ RATE_DEVICE_COMMANDS: "0", RATE_DEVICE_EVENTS: "0", RATE_DEVICE_KV_WRITES: "0", RATE_HOME_KV_WRITES: "0" })],
          test: { name: "api", include: ["test/**/*.test.ts"], exclude: ["test/limits/**"] },
        },
        {
          extends: true,
          plugins: [worker({})],
          test: { name: "limits", include: ["test/limits/**/*.test.ts"] },
        },
      ],
      // The fault tests make calls fail on purpose (src/faults.ts); the code
      // logs each failure as it would a real one, which here is expected.
      onConsoleLog: (log: string) => !log.includes("injected fault at "),
      // CI reads the counts from a JSON report beside the usual output.
      reporters: process.env.CI ? ["default", "json"] : ["default"],
      outputFile: { json: ".vitest-results.json" },
    },
  };
});
