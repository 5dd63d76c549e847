/**
 * Properties of what leaves the cloud on a project's behalf, over the real
 * policy and proxy code (no HTTP: thousands of cases in a second; the routes
 * themselves are tested in test/outbound and test/appProxy):
 *
 * - an outbound target written as any IPv6 form that carries a non-public
 *   IPv4 address, in any spelling, is refused as that IPv4 address is; one
 *   carrying a public address is allowed (src/outbound/targets.ts).
 *
 * A failure prints the fast-check seed; `FC_SEED=<seed>` replays the run.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { targetRefusal } from "../../src/outbound/targets";
import { dotted, embed, FORM_NAMES, publicV4, refusedV4, spell, spelling } from "./fuzz/addresses";
import { checkProperty } from "./fuzz/run";

const STRICT = { ALLOW_PRIVATE_TARGETS: "false" };
const classOf = (message: string | null) => (message === null ? null : (/^must not be (.+?) \(/.exec(message)?.[1] ?? message));

describe("outbound targets: IPv6 forms carrying an IPv4 address", () => {
  it("a non-public IPv4 address in any form and spelling is refused as that address (3,000 cases)", async () => {
    const arb = fc.record({ v4: refusedV4, form: fc.constantFrom(...FORM_NAMES), spelled: spelling, other: publicV4, port: fc.option(fc.integer({ min: 1, max: 65535 })) });
    await checkProperty(
      "embedded non-public IPv4",
      fc.asyncProperty(arb, async ({ v4, form, spelled, other, port }) => {
        const text = spell(embed(form, v4, other), spelled);
        const url = `http://[${text}]${port === null ? "" : `:${port}`}/p`;
        expect(() => new URL(url), url).not.toThrow();
        const asV4 = classOf(targetRefusal(`http://${dotted(v4)}/p`, STRICT));
        expect(asV4, dotted(v4)).not.toBeNull();
        const asV6 = classOf(targetRefusal(url, STRICT));
        // The local-use NAT64 range is refused for itself too; either reason is right there.
        const expected = form === "nat64Local" ? [asV4, "a private address"] : [asV4];
        expect(expected, `${url} (${dotted(v4)})`).toContain(asV6);
        // And the message names the address as the URL parser normalised it, so the admin sees what was judged.
        expect(targetRefusal(url, STRICT)).toContain(new URL(url).hostname);
      }),
      3000,
    );
  });

  it("a public IPv4 address is judged as that address: allowed in every form but the local-use NAT64 range (1,000 cases)", async () => {
    const arb = fc.record({ v4: publicV4, form: fc.constantFrom(...FORM_NAMES), spelled: spelling, other: publicV4 });
    await checkProperty(
      "embedded public IPv4",
      fc.asyncProperty(arb, async ({ v4, form, spelled, other }) => {
        const url = `https://[${spell(embed(form, v4, other), spelled)}]/`;
        expect(classOf(targetRefusal(url, STRICT)), url).toBe(form === "nat64Local" ? "a private address" : null);
      }),
      1000,
    );
  });
});
