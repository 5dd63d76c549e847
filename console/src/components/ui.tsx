/** Small pieces every page uses: presence, errors, paging, times, loading data. */
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { explain } from "../errors";

/** Presence as a dot and a word: never colour alone. */
export function Presence({ online }: { online: boolean }) {
  return (
    <span class={`presence ${online ? "online" : "offline"}`}>
      <span class="dot" aria-hidden="true" />
      {online ? "Online" : "Offline"}
    </span>
  );
}

/** An error in words (console/src/errors.ts), the service's code in small print after it. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const { text, code } = explain(error);
  return (
    <p class="error" role="alert">
      {text}
      {code && (
        <>
          {" "}
          <small class="error-code">{code}</small>
        </>
      )}
    </p>
  );
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <section class="card" aria-labelledby={id}>
      <div class="card-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

export function Pager({ skip, limit, total, onPage }: { skip: number; limit: number; total: number; onPage: (skip: number) => void }) {
  const first = total === 0 ? 0 : skip + 1;
  const last = Math.min(skip + limit, total);
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={skip === 0} onClick={() => onPage(Math.max(0, skip - limit))}>
        Previous page
      </button>
      <span>
        {first}–{last} of {total}
      </span>
      <button type="button" disabled={last >= total} onClick={() => onPage(skip + limit)}>
        Next page
      </button>
    </nav>
  );
}

export function time(t: string | null | undefined): string {
  if (!t) return "—";
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toLocaleString();
}

export function json(v: unknown): string {
  return JSON.stringify(v);
}

/** Parses a JSON text typed by the user; throws a readable error. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
}

/** Loads data with `load` when `deps` change; `reload` runs it again (e.g. on a poll or after a write). */
export function useData<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const reload = useCallback(() => {
    load().then(
      (d) => {
        setData(d);
        setError(null);
      },
      (e: unknown) => setError(e),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(reload, [reload]);
  return { data, setData, error, reload };
}

/**
 * Copies `text` (navigator.clipboard); where the page may not write the
 * clipboard (no permission, plain http), selects the text of `target` instead
 * and says so, so Ctrl+C / long-press copies it.
 */
export function CopyButton({ text, target, label }: { text: string; target: string; label: string }) {
  const [said, setSaid] = useState("");
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setSaid("Copied.");
    } catch {
      const el = document.getElementById(target);
      const sel = window.getSelection();
      if (el && sel) {
        const range = document.createRange();
        range.selectNodeContents(el);
        sel.removeAllRanges();
        sel.addRange(range);
      }
      setSaid("Selected: press Ctrl+C (⌘C) to copy.");
    }
  }
  return (
    <span class="copy">
      <button type="button" aria-label={label} onClick={() => void copy()}>
        Copy
      </button>
      <span role="status" class="muted copy-said">
        {said}
      </span>
    </span>
  );
}

/** A secret or a command line shown once, with its Copy button. */
export function Copyable({ id, text, label }: { id: string; text: string; label: string }) {
  return (
    <div class="copy-row">
      <code class="secret" id={id}>
        {text}
      </code>
      <CopyButton text={text} target={id} label={label} />
    </div>
  );
}
