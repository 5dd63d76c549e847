/**
 * Telling a user their token. Two ways, both after the answer is decided (so
 * the answer never depends on them):
 *
 * - Cloudflare's `send_email` binding `EMAIL`, when the deployment has one and
 *   sets `EMAIL_FROM` (wrangler.toml shows how; `wrangler dev` simulates the
 *   binding and logs the message). Without them nothing is mailed.
 * - Always, the event `_userEmailVerification_` / `_userPasswordReset_` for
 *   the project's webhooks, so a customer's backend can send its own mail.
 *   Webhooks do not exist yet: `userEmailVerificationEvent` and
 *   `userPasswordResetEvent` below are the hook points they will call.
 */

/** The optional bindings of mail delivery. Not in wrangler.toml by default, so typed here. */
export interface MailEnv {
  EMAIL?: SendEmail;
  EMAIL_FROM?: string;
}

export interface UserTokenEvent {
  eventType: "_userEmailVerification_" | "_userPasswordReset_";
  eventData: { projectId: number; userId: number; email: string; token: string; expirationTime: string };
  timestamp: string;
}

/**
 * Hook point for project webhooks (not built yet): today the event goes
 * nowhere beyond this function. Kept as one function per event so the webhook
 * dispatcher has one place to plug in.
 */
export async function userEmailVerificationEvent(_env: Env, _event: UserTokenEvent): Promise<void> {}

/** Hook point for project webhooks (see `userEmailVerificationEvent`). */
export async function userPasswordResetEvent(_env: Env, _event: UserTokenEvent): Promise<void> {}

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
    if (event.eventType === "_userEmailVerification_") await userEmailVerificationEvent(env, event);
    else await userPasswordResetEvent(env, event);
  } catch (err) {
    console.error(`${event.eventType}: event for user ${event.eventData.userId} failed`, err);
  }
}
