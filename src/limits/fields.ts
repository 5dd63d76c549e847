/**
 * Schemas of fields whose size the registry names: the message of a refusal
 * states the number in force, and the number is written nowhere else.
 */
import { z } from "@hono/zod-openapi";
import { LIMIT, type LimitName } from "./registry";

/** A string of at most the named number of characters. */
export const upToChars = (limit: LimitName) => z.string().max(LIMIT[limit], `at most ${LIMIT[limit]} characters`);

/** An array of at most the named number of items, refused with `what` named ("at most 64 parameters"). */
export const upToItems = <T extends z.ZodTypeAny>(item: T, limit: LimitName, what: string) => z.array(item).max(LIMIT[limit], `at most ${LIMIT[limit]} ${what}`);
