/**
 * What the registry tells the server outlets after it changes something they
 * depend on (the same contract as src/live/hooks.ts: called after the D1 write
 * committed, one awaited RPC tried twice).
 */
import { twice } from "../live/hooks";
import { homeHub } from "../live/stubs";

/** A user is no longer a member of the home (removed, or left): their event streams of it end. */
export async function afterMembershipEnded(env: Env, homeId: number, userId: number): Promise<void> {
  await twice("afterMembershipEnded", () => homeHub(env, homeId).endStreams(userId));
}

/** The home was deleted: every stream of it ends, and its hub erases what it kept (event log, key-values, listeners). */
export async function afterHomeDeleted(env: Env, homeId: number): Promise<void> {
  await twice("afterHomeDeleted", () => homeHub(env, homeId).homeDeleted());
}
