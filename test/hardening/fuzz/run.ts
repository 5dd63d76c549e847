/**
 * Running a fast-check property in these tests: a seed that is printed when
 * the property fails and can be replayed with `FC_SEED=<seed>` (handed in by
 * test/setup/fc-seed.ts), and no shrinking, because each case is a real
 * request against state the earlier cases changed: the first failing case,
 * with its seed and path, is what to look at.
 */
import fc from "fast-check";
import { inject } from "vitest";

export async function checkProperty<T>(name: string, property: fc.IAsyncPropertyWithHooks<T>, numRuns: number): Promise<void> {
  const seed = inject("fcSeed") ?? (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;
  const details = await fc.check(property, { seed, numRuns, endOnFailure: true });
  if (details.failed) {
    // What went wrong first (the counterexample can be a 60 KB body), then fast-check's own
    // report, which names the seed and path too; the first line says how to replay.
    const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    const report = fc.defaultReportMessage(details) ?? "";
    throw new Error(
      `${name}: failed with seed ${seed} (replay: FC_SEED=${seed} npx vitest run test/hardening)\n` +
        `${cause.slice(0, 2000)}\n${report.length > 4000 ? `${report.slice(0, 4000)}…` : report}`,
    );
  }
}
