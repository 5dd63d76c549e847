// What `npm start` passes on of wrangler dev's output. wrangler prints its
// bindings table again each time its dev server reconnects (once more right
// after starting) and, offline, a stack trace under each `Request.cf`
// warning: a newcomer scrolls past 40 lines to reach the operator token.
// This keeps each distinct bindings table once and each warning without its
// trace; every other line passes unchanged, in order.

const BINDINGS_HEADER = "Your Worker has access to the following bindings:";
const CF_WARNING = "Unable to fetch the `Request.cf` object";

/** ANSI colour codes do not count when lines are compared. */
const plain = (line) => line.replace(/\x1b\[[0-9;]*m/g, "");

/**
 * A line filter with memory: `push(line)` returns the lines to print now (a
 * bindings table is held until its blank line ends it, then printed once).
 */
export function wranglerOutputFilter() {
  const tablesSeen = new Set();
  let table = null; // lines of a bindings table being read
  let inTrace = false; // skipping the trace under a Request.cf warning
  let cfWarned = false;

  return {
    push(line) {
      const text = plain(line);
      if (table) {
        if (text.trim() !== "") {
          table.push(line);
          return [];
        }
        const key = table.map(plain).join("\n");
        const lines = tablesSeen.has(key) ? [] : [...table, line];
        tablesSeen.add(key);
        table = null;
        return lines;
      }
      if (inTrace) {
        if (/^(Error: |\s+at )/.test(text)) return [];
        inTrace = false;
      }
      if (text.includes(BINDINGS_HEADER)) {
        table = [line];
        return [];
      }
      if (text.includes(CF_WARNING)) {
        inTrace = true;
        if (cfWarned) return [];
        cfWarned = true;
        return [line];
      }
      return [line];
    },
    /** Whatever is held when the output ends. */
    flush() {
      const lines = table ?? [];
      table = null;
      return lines;
    },
  };
}

/** Pipes a readable stream of wrangler's output through the filter to `out`, line by line. */
export function pipeFiltered(readable, out, filter = wranglerOutputFilter()) {
  let partial = "";
  readable.setEncoding("utf8");
  readable.on("data", (chunk) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop();
    const shown = lines.flatMap((line) => filter.push(line));
    if (shown.length) out.write(`${shown.join("\n")}\n`);
  });
  readable.on("end", () => {
    const rest = [...(partial ? filter.push(partial) : []), ...filter.flush()];
    if (rest.length) out.write(`${rest.join("\n")}\n`);
  });
}
