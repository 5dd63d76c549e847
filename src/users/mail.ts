/**
 * Telling a user their token. Two ways, both after the answer is decided (so
 * the answer never depends on them):
 *
 * - Cloudflare's `send_email` binding `EMAIL`, when the deployment has one and
 *   sets `EMAIL_FROM` (wrangler.toml shows how; `wrangler dev` simulates the
 *   binding and logs the message). Without them nothing is mailed.
 * - Always, the event `_userEmailVerification_` / `_userPasswordReset_` to
 *   the project's webhooks (filtered by their `eventTypes` like any event),
 *   so a customer's backend can send its own mail: with the default
 *   configuration, which mails nothing, that is how a user gets the token.
 *
 * The worker emits these, and keeps no copy of the project's webhooks: one
 * read of them per event, which is fine for events this rare (a `start` is
 * counted per client address like a sign-in).
 */
import { enqueueUncached } from "../events/enqueue";
import type { UserTokenEvent } from "../events/shape";

/** The optional bindings of mail delivery. Not in wrangler.toml by default, so typed here. */
export interface MailEnv {
  EMAIL?: SendEmail;
  EMAIL_FROM?: string;
}

const TEXT: Record<UserTokenEvent["eventType"], { subject: string; body: (token: string) => string }> = {
  _userEmailVerification_: {
    subject: "Verify your email address",
    body: (token) => `Your verification token (valid for one hour):\n\n${token}\n\nIf you did not ask for this, ignore this mail.`,
  },
  _userPasswordReset_: {
    subject: "Reset your password",
    body: (token) => `Your password reset token (valid for one hour):\n\n${token}\n\nIf you did not ask for this, ignore this mail; your password is unchanged.`,
  },
};

/** Mails the token (when configured) and emits the event. Failures are logged, never surfaced: the caller has been answered. */
export async function deliverUserToken(env: Env, event: UserTokenEvent): Promise<void> {
  const mail = env as Env & MailEnv;
  if (mail.EMAIL && mail.EMAIL_FROM) {
    const text = TEXT[event.eventType];
    try {
      await mail.EMAIL.send({ from: mail.EMAIL_FROM, to: event.eventData.email, subject: text.subject, text: text.body(event.eventData.token) });
    } catch (err) {
      console.error(`${event.eventType}: mail to user ${event.eventData.userId} failed`, err);
    }
  }
  try {
    await enqueueUncached(env, event.eventData.projectId, { eventType: event.eventType, json: JSON.stringify(event) });
  } catch (err) {
    console.error(`${event.eventType}: event for user ${event.eventData.userId} failed`, err);
  }
}
