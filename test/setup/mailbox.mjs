// A stand-in for Cloudflare's Email Service in the workerd tests: an
// auxiliary worker whose `Mailbox` entrypoint is bound as `EMAIL` (the
// send_email binding's `send({from, to, subject, text})`), and whose fetch
// handler lets a test read what was sent: GET /?to=<address> → JSON array.
// It plays the mail service, outside the service under test, as the App
// Proxy tests' Node server plays a project's app server.
import { WorkerEntrypoint } from "cloudflare:workers";

const sent = [];

export class Mailbox extends WorkerEntrypoint {
  async send(message) {
    sent.push({ from: message.from, to: message.to, subject: message.subject, text: message.text });
    return { messageId: `test-${sent.length}` };
  }
}

export default {
  async fetch(request) {
    const to = new URL(request.url).searchParams.get("to");
    return Response.json(sent.filter((m) => m.to === to));
  },
};
