/**
 * The frame of every page: a header with the project, a left nav that
 * collapses on phones behind a Menu button. The open menu closes on Escape
 * (the focus back on Menu) and on any navigation: a link in it, a link on
 * the page, Back.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { useLiveStatus, POLL_MS, type LiveStatus } from "../live";
import type { Session } from "../session";

const STATUS_TEXT: Record<LiveStatus, string> = {
  connecting: "Live: connecting…",
  live: "Live: connected",
  reconnecting: "Live: reconnecting…",
  polling: `Live: polling every ${POLL_MS / 1000} s`,
};

export function Layout({ session, page, onSignOut, children }: { session: Session; page: string; onSignOut: () => void; children: ComponentChildren }) {
  const [navOpen, setNavOpen] = useState(false);
  const toggle = useRef<HTMLButtonElement>(null);
  const nav = useRef<HTMLElement>(null);
  const status = useLiveStatus();

  useEffect(() => {
    const close = () => setNavOpen(false);
    window.addEventListener("hashchange", close);
    return () => window.removeEventListener("hashchange", close);
  }, []);

  useEffect(() => {
    if (!navOpen) return;
    // The menu comes after the header in the page: without this, Tab from Menu would reach Sign out first.
    nav.current?.querySelector<HTMLElement>("a")?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== "Escape") return;
      setNavOpen(false);
      // From the menu (or nowhere) back to its button; a field elsewhere on the page keeps the focus.
      const at = document.activeElement;
      if (!at || at === document.body || at === toggle.current || nav.current?.contains(at)) toggle.current?.focus();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [navOpen]);

  const who = session.kind === "user" ? session.userName : session.isOperator ? "operator" : session.isAdmin ? "admin key" : "project key";
  const links: [string, string][] = [
    ["devices", "Devices"],
    ["homes", "Homes"],
  ];
  if (session.isAdmin) links.push(["rollouts", "Rollouts"], ["project", "Keys, classes and devices"]);
  return (
    <div class={`shell ${navOpen ? "nav-open" : ""}`}>
      <header class="top">
        <button type="button" class="nav-toggle" ref={toggle} aria-expanded={navOpen} aria-controls="nav" onClick={() => setNavOpen(!navOpen)}>
          Menu
        </button>
        <div class="brand">
          <span class="product">Device console</span>
          <span class="project" title={`Project ${session.project.id}`}>
            {session.project.name} <span class="muted">#{session.project.id}</span>
          </span>
        </div>
        <div class="who">
          <span class={`live-status ${status}`} role="status">
            <span class="dot" aria-hidden="true" />
            {STATUS_TEXT[status]}
          </span>
          <span class="muted">{who}</span>
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <nav id="nav" class="side" aria-label="Main" ref={nav}>
        <ul>
          {links.map(([path, label]) => (
            <li key={path}>
              <a href={`#/${path}`} aria-current={page === path ? "page" : undefined} onClick={() => setNavOpen(false)}>
                {label}
              </a>
            </li>
          ))}
          <li>
            <a href="/docs">API reference</a>
          </li>
        </ul>
      </nav>
      <main id="main">{children}</main>
    </div>
  );
}
