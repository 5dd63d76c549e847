declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** The stand-in mail service's inbox (test/setup/mailbox.mjs): GET /?to=<address>. */
    MAILBOX: Fetcher;
  }
}
