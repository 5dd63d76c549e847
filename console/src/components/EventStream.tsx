/** The device's events as they arrive on the user's event socket (a live region). */
import { useState } from "preact/hooks";
import { useLiveEvents } from "../live";
import type { Session } from "../session";
import type { AppEvent } from "../types";
import { json, Section, time } from "./ui";

const KEEP = 100;

export function EventStream({ session, deviceId, inHome }: { session: Session; deviceId: number; inHome: boolean }) {
  const [events, setEvents] = useState<AppEvent[]>([]);
  useLiveEvents((e) => {
    if (e.originDeviceId === deviceId) setEvents((list) => [e, ...list].slice(0, KEEP));
  });
  let note = "Events of this device appear here as they happen (newest first).";
  if (session.kind === "key") note = "Live events need a user sign-in: the event socket belongs to users (a project key has none).";
  else if (!inHome) note = "This device is in no home, so no app socket carries its events.";

  return (
    <Section
      title="Live events"
      actions={
        events.length > 0 && (
          <button type="button" onClick={() => setEvents([])}>
            Clear events
          </button>
        )
      }
    >
      <p class="hint">{note}</p>
      <div role="log" aria-live="polite" aria-label="Live events">
        <ol class="events">
        {events.map((e, i) => (
          <li key={`${e.timestamp}-${i}`}>
            <time>{time(e.timestamp)}</time> <strong>{e.eventType}</strong> <code>{json(e.eventData)}</code>
          </li>
          ))}
        </ol>
      </div>
    </Section>
  );
}
