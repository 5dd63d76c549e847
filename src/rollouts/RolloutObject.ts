/**
 * One object per firmware rollout (named by the rollout's decimal id): the
 * devices it chose, each one's state, and the alarm that drives it — starting
 * devices stage by stage at most `maxPerMinute`, timing them out, aborting on
 * failures. docs/rollouts.md.
 */
import { DurableObject } from "cloudflare:workers";

export class RolloutObject extends DurableObject<Env> {}
