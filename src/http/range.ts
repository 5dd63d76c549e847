/**
 * Pagination: `skip`/`limit` in, `vnd.tinkermode.range: <first>-<last>/<total>`
 * out ("*" over the total when empty), exposed to browsers through CORS.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { LIMIT } from "../limits/registry";

export const RANGE_HEADER = "vnd.tinkermode.range";

const intQuery = z.preprocess((v) => (typeof v === "string" && /^-?\d{1,15}$/.test(v) ? Number(v) : v), z.number().int());

export const pageQuery = {
  skip: intQuery.pipe(z.number().min(0, "must be 0 or more")).optional().openapi({ type: "integer", description: "Items to skip over." }),
  limit: intQuery
    .pipe(z.number().min(1, "must be at least 1").max(LIMIT.pageItems, `must be at most ${LIMIT.pageItems}`))
    .optional()
    .openapi({ type: "integer", description: `Items to return (default 25, 1 to ${LIMIT.pageItems}).` }),
};

export function setRange(c: Context, skip: number, count: number, total: number): void {
  c.header(RANGE_HEADER, count === 0 ? `*/${total}` : `${skip}-${skip + count - 1}/${total}`);
}
