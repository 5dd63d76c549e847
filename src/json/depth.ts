/**
 * The nesting cap on JSON. A few kilobytes of `[[[[…]]]]` parse fine but
 * overflow the stack of whatever walks them recursively afterwards (RPC
 * serialisation to a Durable Object, JSON.stringify, a recursive schema), and
 * the request came back as a retryable 503. Every JSON body and socket frame is
 * checked against this cap before anything parses or forwards it.
 *
 * The check is one linear pass over the raw text counting brackets outside
 * strings: no parse, no recursion, nothing allocated but the name of the field.
 */
import { LIMIT } from "../limits/registry";

/** Levels a JSON text may nest, its outermost object or array counting as one. */
export const MAX_JSON_DEPTH: number = LIMIT.jsonDepth;

export const TOO_DEEP = `nested deeper than ${MAX_JSON_DEPTH} levels`;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

/**
 * Where `text` nests deeper than `max`: the top-level field holding the
 * deepest part (`"body"` when the text itself is an array), or null when it
 * stays within the cap. Malformed JSON is not judged here: the parser that
 * comes next refuses it.
 */
export function tooDeepField(text: string, max: number = MAX_JSON_DEPTH): string | null {
  let depth = 0;
  let inString = false;
  let topIsObject = false;
  // At depth 1 of an object, whether the next string is a key, and where it started.
  let expectKey = false;
  let keyStart = -1;
  let field = "body";
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === BACKSLASH) i++;
      else if (ch === QUOTE) {
        inString = false;
        if (keyStart >= 0) {
          field = keyName(text.slice(keyStart, i + 1));
          keyStart = -1;
        }
      }
      continue;
    }
    switch (ch) {
      case QUOTE:
        inString = true;
        if (expectKey && depth === 1) {
          keyStart = i;
          expectKey = false;
        }
        break;
      case OPEN_BRACE:
      case OPEN_BRACKET:
        depth++;
        if (depth === 1) {
          topIsObject = ch === OPEN_BRACE;
          expectKey = topIsObject;
        }
        if (depth > max) return topIsObject ? field : "body";
        break;
      case CLOSE_BRACE:
      case CLOSE_BRACKET:
        if (depth > 0) depth--;
        break;
      case COMMA:
        if (depth === 1 && topIsObject) expectKey = true;
        break;
    }
  }
  return null;
}

/** A key as JSON text (with its quotes) made readable; left as written if its escapes are broken. */
function keyName(quoted: string): string {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted.slice(1, -1);
  }
}
