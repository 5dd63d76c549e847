/**
 * Live updates. A user has the app event socket every MODE app uses,
 * `GET /userSession/websocket?authToken=`: presence, key-value changes and
 * device events of every device in the user's homes. A project key has no such
 * socket, so pages poll the REST API instead (every POLL_MS) and say so.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { AppEvent } from "./types";
import type { Session } from "./session";

export const POLL_MS = 5000;

export type LiveStatus = "connecting" | "live" | "reconnecting" | "polling";

type Listener = (e: AppEvent) => void;

class LiveFeed {
  private socket: WebSocket | null = null;
  private listeners = new Set<Listener>();
  private statusListeners = new Set<(s: LiveStatus) => void>();
  private backoff = 1000;
  private timer: number | undefined;
  private stopped = false;
  status: LiveStatus;

  constructor(
    private readonly session: Session,
    private readonly onSessionEnded: () => void,
  ) {
    this.status = session.kind === "user" ? "connecting" : "polling";
    if (session.kind === "user") this.connect();
  }

  private setStatus(s: LiveStatus) {
    this.status = s;
    for (const l of this.statusListeners) l(s);
  }

  private connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/userSession/websocket?authToken=${encodeURIComponent(this.session.key)}`);
    this.socket = ws;
    ws.onopen = () => {
      this.backoff = 1000;
      this.setStatus("live");
    };
    ws.onmessage = (m) => {
      let event: AppEvent;
      try {
        event = JSON.parse(String(m.data)) as AppEvent;
      } catch {
        return;
      }
      for (const l of this.listeners) l(event);
    };
    ws.onclose = (c) => {
      this.socket = null;
      if (this.stopped) return;
      // 4001: the session ended (logged out elsewhere, password changed).
      if (c.code === 4001) return this.onSessionEnded();
      this.setStatus("reconnecting");
      this.timer = window.setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 30_000);
    };
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  onStatus(l: (s: LiveStatus) => void): () => void {
    this.statusListeners.add(l);
    return () => this.statusListeners.delete(l);
  }

  stop() {
    this.stopped = true;
    window.clearTimeout(this.timer);
    this.socket?.close(1000);
  }
}

let feed: LiveFeed | null = null;

export function startLive(session: Session, onSessionEnded: () => void): void {
  feed?.stop();
  feed = new LiveFeed(session, onSessionEnded);
}

export function stopLive(): void {
  feed?.stop();
  feed = null;
}

/** Calls `listener` for every app event while the component is mounted. */
export function useLiveEvents(listener: Listener): void {
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => feed?.subscribe((e) => ref.current(e)), []);
}

export function useLiveStatus(): LiveStatus {
  const [status, setStatus] = useState<LiveStatus>(feed?.status ?? "polling");
  useEffect(() => {
    if (!feed) return;
    setStatus(feed.status);
    return feed.onStatus(setStatus);
  }, []);
  return status;
}

/** Runs `fn` every `ms` (POLL_MS unless given) while `enabled` (a project key's substitute for the socket). */
export function usePoll(fn: () => void, enabled: boolean, ms: number = POLL_MS): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!enabled) return;
    const t = window.setInterval(() => ref.current(), ms);
    return () => window.clearInterval(t);
  }, [enabled, ms]);
}

/**
 * Runs `fn` every `ms` while the page is visible, and once at once when it
 * becomes visible again: for what no socket carries (a device's log entries),
 * without asking the service on behalf of a tab nobody looks at.
 */
export function usePollWhileVisible(fn: () => void, ms: number = POLL_MS): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const t = window.setInterval(() => {
      if (document.visibilityState === "visible") ref.current();
    }, ms);
    const onVisible = () => {
      if (document.visibilityState === "visible") ref.current();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      window.clearInterval(t);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [ms]);
}
