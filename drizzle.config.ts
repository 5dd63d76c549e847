import { defineConfig } from "drizzle-kit";

// drizzle-kit only generates SQL here; wrangler applies it (one migrations table: wrangler's).
export default defineConfig({
  dialect: "sqlite",
  schema: ["./src/db/schema.ts", "./src/db/logRequests.ts"],
  out: "./migrations",
});
