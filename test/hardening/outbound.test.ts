/**
 * Properties of what leaves the cloud on a project's behalf, over the real
 * policy and proxy code (no HTTP: thousands of cases in a second; the routes
 * themselves are tested in test/outbound and test/appProxy):
 *
 * - an outbound target written as any IPv6 form that carries a non-public
 *   IPv4 address, in any spelling, is refused as that IPv4 address is; one
 *   carrying a public address is allowed (src/outbound/targets.ts);
 * - the App Proxy forwards a query without any `authToken` parameter and
 *   without the caller's key, however the query separates its parameters,
 *   and keeps everything else byte for byte (src/appproxy/forward.ts).
 *
 * A failure prints the fast-check seed; `FC_SEED=<seed>` replays the run.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { forwardedQuery } from "../../src/appproxy/forward";
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

describe("App Proxy: the forwarded query", () => {
  const KEY = "mcu_CallersOwnKey0123456789abcdefABCDEF-_";
  /** `authToken` in any letter case, some letters percent-encoded. */
  const authTokenName = fc
    .array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: 9, maxLength: 9 })
    .map((flags) =>
      [..."authToken"]
        .map((ch, i) => {
          const c = flags[i]![0] ? ch.toUpperCase() : ch.toLowerCase();
          return flags[i]![1] ? `%${c.charCodeAt(0).toString(16).toUpperCase()}` : c;
        })
        .join(""),
    );
  const safe = fc.string({ unit: fc.constantFrom(..."abcXYZ019-._~%2F+"), maxLength: 8 });
  /** A parameter of the app's own: kept exactly as sent. */
  const appPiece = fc.oneof(
    fc.tuple(safe, safe).map(([n, v]) => ({ text: `x${n}=${v}`, secret: false })),
    safe.map((n) => ({ text: `flag${n}`, secret: false })),
    fc.constantFrom("myauthToken=1", "authTokens=2", "authToken_x=3", "=", "").map((text) => ({ text, secret: false })),
  );
  /** What must not leave: any authToken parameter, and the caller's key under any name. */
  const secretPiece = fc.oneof(
    fc.tuple(authTokenName, fc.oneof(fc.constant(KEY), safe)).map(([n, v]) => ({ text: `${n}=${v}`, secret: true })),
    authTokenName.map((n) => ({ text: n, secret: true })),
    fc.tuple(safe, fc.constantFrom(KEY, `Bearer%20${KEY}`, `ModeCloud+${KEY}`)).map(([n, v]) => ({ text: `k${n}=${v}`, secret: true })),
  );
  const query = fc.array(fc.tuple(fc.oneof({ weight: 3, arbitrary: appPiece }, { weight: 2, arbitrary: secretPiece }), fc.constantFrom("&", ";")), { maxLength: 8 });

  it("no authToken and no caller's key, whatever separates the parameters; the rest byte for byte (3,000 cases)", async () => {
    await checkProperty(
      "forwarded query",
      fc.asyncProperty(query, async (pieces) => {
        const search = pieces.length ? `?${pieces.map(([p], i) => (i ? pieces[i - 1]![1] : "") + p.text).join("")}` : "";
        const out = forwardedQuery(search, KEY);
        expect(out, search).not.toContain(KEY);
        const kept = out.replace(/^\?/, "").split(/[&;]/);
        for (const piece of kept) {
          const name = [...new URLSearchParams(`${piece.split("=", 1)[0]}=`).keys()][0] ?? "";
          expect(name.toLowerCase(), `${search} → ${out}`).not.toBe("authtoken");
        }
        // What the app sent of its own goes on, in order, as sent.
        const own = pieces.filter(([p]) => !p.secret).map(([p]) => p.text);
        if (pieces.every(([p]) => !p.secret)) expect(out).toBe(search);
        else expect(kept.filter((p) => p !== "")).toEqual(own.filter((p) => p !== ""));
      }),
      3000,
    );
  });
});
