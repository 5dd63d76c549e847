/**
 * The console's one table: a labelled, scrollable table with column headers,
 * one row per item and a line when there are none. Pages only say what their
 * columns show, so every table reads the same to a screen reader (`scope`
 * on headers, an accessible name, the empty state in the table itself).
 *
 * A `stack` table turns each row into a card at phone width (each cell under
 * its column's name, from `data-label`); its explicit ARIA roles keep it a
 * table to screen readers even when CSS no longer lays it out as one.
 */
import type { ComponentChildren } from "preact";

export interface Column<T> {
  /** Header text. */
  head: string;
  /** Header read by screen readers only (e.g. an actions column). */
  srOnly?: boolean;
  /** Class on the header and every cell of the column (e.g. "wide-only", "actions"). */
  class?: string;
  /** This column names its row: its cells are row headers. */
  rowHeader?: boolean;
  cell: (row: T) => ComponentChildren;
}

interface Props<T> {
  /** The table's accessible name. */
  label: string;
  columns: Column<T>[];
  /** Undefined while loading: no rows and no empty line. */
  rows: T[] | undefined;
  rowKey: (row: T, index: number) => string | number;
  /** Extra attributes of a row (e.g. `data-device-id`, which tests and scripts find rows by). */
  rowAttrs?: (row: T) => Record<string, string | number>;
  /** What an empty list says; without it an empty list shows no line. */
  empty?: ComponentChildren;
  /** A tall table scrolls inside its card. */
  scroll?: boolean;
  /** At phone width each row stacks into a card, its cells labelled by their column. */
  stack?: boolean;
}

export function DataTable<T>({ label, columns, rows, rowKey, rowAttrs, empty, scroll, stack }: Props<T>) {
  // Roles only where CSS may un-table the markup (stack): elsewhere the elements say it.
  const role = (r: "table" | "rowgroup" | "row" | "columnheader" | "rowheader" | "cell") => (stack ? r : undefined);
  return (
    <div class={["table-wrap", scroll && "scroll", stack && "stack"].filter(Boolean).join(" ")}>
      <table aria-label={label} role={role("table")}>
        <thead role={role("rowgroup")}>
          <tr role={role("row")}>
            {columns.map((c) => (
              <th scope="col" class={c.class} key={c.head} role={role("columnheader")}>
                {c.srOnly ? <span class="sr-only">{c.head}</span> : c.head}
              </th>
            ))}
          </tr>
        </thead>
        <tbody role={role("rowgroup")}>
          {rows?.map((row, i) => (
            <tr key={rowKey(row, i)} role={role("row")} {...rowAttrs?.(row)}>
              {columns.map((c) =>
                c.rowHeader ? (
                  <th scope="row" class={c.class} key={c.head} role={role("rowheader")} data-label={c.srOnly ? undefined : c.head}>
                    {c.cell(row)}
                  </th>
                ) : (
                  <td class={c.class} key={c.head} role={role("cell")} data-label={c.srOnly ? undefined : c.head}>
                    {c.cell(row)}
                  </td>
                ),
              )}
            </tr>
          ))}
          {rows?.length === 0 && empty !== undefined && (
            <tr role={role("row")}>
              <td colSpan={columns.length} class="empty" role={role("cell")}>
                {empty}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
