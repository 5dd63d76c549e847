/**
 * Vitest globalSetup (runs in Node): hands `FC_SEED` from the environment to
 * the property-based tests inside workerd, which cannot read Node's
 * environment. `FC_SEED=<n> npx vitest run test/hardening` replays a run.
 */
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** The fast-check seed to replay, or null for a fresh one. */
    fcSeed: number | null;
  }
}

export default function setup(project: TestProject) {
  const raw = process.env.FC_SEED?.trim();
  project.provide("fcSeed", raw && /^-?\d+$/.test(raw) ? Number(raw) : null);
}
