/**
 * Outbound targets (App Proxy routes and webhook URLs) written as IPv6
 * addresses that carry an IPv4 address: mapped, translated, compatible,
 * NAT64, 6to4, Teredo and ISATAP. A host, a translator or a tunnel reads the
 * IPv4 address out of each, so each is judged as that IPv4 address: refused
 * with the same error as the dotted form when it is not public, allowed when
 * it is (except in a range that is not global itself, the local-use NAT64
 * prefix). The other IPv6 ranges that are not globally reachable are refused.
 *
 * Through the worker's fetch handler with ALLOW_PRIVATE_TARGETS off (the test
 * config turns it on, so the other tests can reach their servers on 127.0.0.1).
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { call, del, get, post, put, type ApiResponse } from "../helpers/api";
import { newDevice, newProject, type Project } from "../helpers/fixtures";
import { callWith } from "../limits/limited";
import { CANONICAL, dotted, embed, FORM_NAMES, PUBLIC_V4, REFUSED_V4, spell, type Form, type Quad, type Spelling } from "../hardening/fuzz/addresses";

const STRICT = { ALLOW_PRIVATE_TARGETS: "false" } as const;
const strict = (method: string, path: string, key: string, body?: unknown): Promise<ApiResponse> => callWith(STRICT, method, path, { key, body });

/** The class named in a refusal ("a loopback address"), so an IPv6 form's error can be compared with its IPv4 address's. */
const classOf = (message: string | undefined) => /^must not be (.+?) \(/.exec(message ?? "")?.[1];

/** A few spellings besides the usual one: padded, upper case, dotted tail, no compression. */
const SPELLINGS: Spelling[] = [
  CANONICAL,
  { compress: 0, pad: true, upper: true, dottedTail: true },
  { compress: null, pad: false, upper: true, dottedTail: false },
  { compress: 1, pad: true, upper: false, dottedTail: false },
];
const urlOf = (form: Form, v4: Quad, i: number) => `http://[${spell(embed(form, v4), SPELLINGS[i % SPELLINGS.length]!)}]:8080/x`;

/** What the IPv4 address itself is refused as, through the same endpoint. */
let v4Class: Map<string, string>;
let p: Project;

beforeAll(async () => {
  p = await newProject();
  const r = await strict("PUT", `/projects/${p.id}/appProxy/routes`, p.adminKey, {
    routes: REFUSED_V4.map((q, i) => ({ srcPath: `v4-${i}`, targetUrl: `http://${dotted(q)}/x` })),
  });
  expect(r.status).toBe(400);
  v4Class = new Map(REFUSED_V4.map((q, i) => [dotted(q), classOf(r.body.data.errors[`routes.${i}.targetUrl`])!]));
  // Every listed address is refused as itself, so the comparisons below mean something.
  for (const [addr, cls] of v4Class) expect(cls, addr).toBeTruthy();
});

describe("an IPv6 form carrying a non-public IPv4 address is refused like that address", () => {
  // One test per endpoint over every form, so each test asks for the whole rule.
  it("App Proxy routes: every form, every class, in several spellings", async () => {
    for (const form of FORM_NAMES) {
      const routes = REFUSED_V4.map((q, i) => ({ srcPath: `r${i}`, targetUrl: urlOf(form, q, i) }));
      const r = await strict("PUT", `/projects/${p.id}/appProxy/routes`, p.adminKey, { routes });
      expect(r.status, `${form}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body.reason).toBe("INVALID_INPUT");
      const errors: Record<string, string> = r.body.data.errors;
      expect(Object.keys(errors).sort(), form).toEqual(routes.map((_, i) => `routes.${i}.targetUrl`).sort());
      REFUSED_V4.forEach((q, i) => {
        const message = errors[`routes.${i}.targetUrl`];
        // The local-use NAT64 range is refused for itself too; either reason is right there.
        const expected = form === "nat64Local" ? [v4Class.get(dotted(q)), "a private address"] : [v4Class.get(dotted(q))];
        expect(expected, `${form} ${routes[i]!.targetUrl}: ${message}`).toContain(classOf(message));
        expect(message).toMatch(/unless the deployment sets ALLOW_PRIVATE_TARGETS$/);
      });
    }
  });

  it("webhooks: every form, on create and on update", async () => {
    // One address of each class (the routes above take all of them).
    const sample = REFUSED_V4.filter((_, i) => i % 2 === 0);
    const hooksPath = `/projects/${p.id}/webhooks`;
    const hook = await strict("POST", hooksPath, p.adminKey, { url: "https://backend.example.com/hook" });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    const plain = new Map<string, string | undefined>();
    for (const q of sample) plain.set(dotted(q), classOf((await strict("POST", hooksPath, p.adminKey, { url: `http://${dotted(q)}:8080/x` })).body.data.errors.url));
    for (const form of FORM_NAMES) {
      for (const [i, q] of sample.entries()) {
        const url = urlOf(form, q, i);
        const expected = form === "nat64Local" ? [plain.get(dotted(q)), "a private address"] : [plain.get(dotted(q))];
        for (const r of [await strict("POST", hooksPath, p.adminKey, { url }), await strict("PATCH", `${hooksPath}/${hook.body.id}`, p.adminKey, { url })]) {
          expect(r.status, `${form} ${url}: ${JSON.stringify(r.body)}`).toBe(400);
          expect(r.body.reason).toBe("INVALID_INPUT");
          expect(Object.keys(r.body.data.errors)).toEqual(["url"]);
          expect(expected, `${form} ${url}: ${r.body.data.errors.url}`).toContain(classOf(r.body.data.errors.url));
        }
      }
    }
    // Nothing was created and the webhook kept its URL.
    const list = await get(hooksPath, p.adminKey);
    expect(list.body.map((h: { url: string }) => h.url)).toEqual(["https://backend.example.com/hook"]);
    await del(`${hooksPath}/${hook.body.id}`, p.adminKey);
  });
});

describe("a public IPv4 address in those forms is judged as that address", () => {
  const GLOBAL_FORMS = FORM_NAMES.filter((f) => f !== "nat64Local");

  it("allowed as an App Proxy route and a webhook in every form but the local-use NAT64 prefix, which is not global itself", async () => {
    const q = await newProject();
    const routes = GLOBAL_FORMS.flatMap((form, f) => PUBLIC_V4.map((v4, i) => ({ srcPath: `f${f}/a${i}`, targetUrl: urlOf(form, v4, i + f) })));
    expect(routes.length).toBeLessThanOrEqual(100);
    const r = await strict("PUT", `/projects/${q.id}/appProxy/routes`, q.adminKey, { routes });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.routes).toHaveLength(routes.length);

    for (const form of GLOBAL_FORMS) {
      const hook = await strict("POST", `/projects/${q.id}/webhooks`, q.adminKey, { url: urlOf(form, [93, 184, 216, 34], 1) });
      expect(hook.status, `${form}: ${JSON.stringify(hook.body)}`).toBe(201);
      await del(`/projects/${q.id}/webhooks/${hook.body.id}`, q.adminKey);
    }

    const local = PUBLIC_V4.map((v4, i) => ({ srcPath: `n${i}`, targetUrl: urlOf("nat64Local", v4, i) }));
    const refused = await strict("PUT", `/projects/${q.id}/appProxy/routes`, q.adminKey, { routes: local });
    expect(refused.status).toBe(400);
    for (const i of local.keys()) expect(classOf(refused.body.data.errors[`routes.${i}.targetUrl`])).toBe("a private address");
    const hook = await strict("POST", `/projects/${q.id}/webhooks`, q.adminKey, { url: urlOf("nat64Local", [8, 8, 8, 8], 0) });
    expect(classOf(hook.body.data.errors.url)).toBe("a private address");
  });

  it("Teredo is refused when either of its two IPv4 addresses is not public", async () => {
    const server = `http://[${spell(embed("teredoServer", [8, 8, 8, 8], [10, 1, 2, 3]), CANONICAL)}]/`;
    const client = `http://[${spell(embed("teredoClient", [8, 8, 8, 8], [127, 0, 0, 1]), CANONICAL)}]/`;
    const r = await strict("PUT", `/projects/${p.id}/appProxy/routes`, p.adminKey, { routes: [{ srcPath: "a", targetUrl: server }, { srcPath: "b", targetUrl: client }] });
    expect(r.status).toBe(400);
    expect(classOf(r.body.data.errors["routes.0.targetUrl"])).toBe("a private address");
    expect(classOf(r.body.data.errors["routes.1.targetUrl"])).toBe("a loopback address");
  });
});

describe("IPv6 ranges that are not globally reachable", () => {
  const REFUSED_V6: Array<[string, string]> = [
    ["http://[fec0::1]", "a private address"], // site-local (deprecated)
    ["http://[feff:ffff::1]", "a private address"],
    ["http://[2001:db8::1]", "a reserved address"], // documentation
    ["http://[3fff:123::1]", "a reserved address"], // documentation (RFC 9637)
    ["http://[2001:2::1]", "a reserved address"], // benchmarking
    ["http://[2001:10::1]", "a reserved address"], // ORCHID (deprecated)
    ["http://[2001:1ff::1]", "a reserved address"], // IETF protocol assignments, 2001::/23
    ["http://[100::1]", "a reserved address"], // discard-only
    ["http://[100:0:0:1::1]", "a reserved address"], // dummy prefix
    ["http://[5f00::1]", "a reserved address"], // SRv6 SIDs
    ["http://[4000::1]", "a reserved address"], // outside 2000::/3: not allocated
    ["http://[1::1]", "a reserved address"],
    ["http://[e000::1]", "a reserved address"],
  ];
  const ALLOWED_V6 = ["http://[2001:4860:4860::8888]", "http://[2606:4700:4700::1111]", "http://[2001:3::1]", "http://[2001:20::1]", "http://[2001:200::1]", "http://[3ffe::1]", "http://[2a00:1450:4001::1]"];

  it("refuses each with its class, accepts the global neighbours", async () => {
    const routes = [...REFUSED_V6.map(([u]) => u), ...ALLOWED_V6].map((targetUrl, i) => ({ srcPath: `r${i}`, targetUrl }));
    const r = await strict("PUT", `/projects/${p.id}/appProxy/routes`, p.adminKey, { routes });
    expect(r.status).toBe(400);
    const errors: Record<string, string> = r.body.data.errors;
    expect(Object.keys(errors).sort()).toEqual(REFUSED_V6.map((_, i) => `routes.${i}.targetUrl`).sort());
    REFUSED_V6.forEach(([url, cls], i) => expect(classOf(errors[`routes.${i}.targetUrl`]), url).toBe(cls));
  });

  it("documentation IPv4 ranges are refused as their IPv6 counterparts are", async () => {
    const urls = ["http://192.0.2.1", "http://198.51.100.7", "http://203.0.113.9"];
    const r = await strict("PUT", `/projects/${p.id}/appProxy/routes`, p.adminKey, { routes: urls.map((targetUrl, i) => ({ srcPath: `d${i}`, targetUrl })) });
    expect(r.status).toBe(400);
    for (const i of urls.keys()) expect(classOf(r.body.data.errors[`routes.${i}.targetUrl`])).toBe("a reserved address");
  });
});

describe("judged again at use: a form stored while ALLOW_PRIVATE_TARGETS was on is not followed once it is off", () => {
  const url = "http://[::ffff:0:127.0.0.1]:9/x";

  it("App Proxy: 502 APP_PROXY_TARGET_NOT_ALLOWED", async () => {
    const q = await newProject();
    const device = await newDevice(q);
    expect((await put(`/projects/${q.id}/appProxy/routes`, { routes: [{ srcPath: "app", targetUrl: url }] }, q.adminKey)).status).toBe(200);
    expect((await post(`/projects/${q.id}/appProxy/secret`, {}, q.adminKey)).status).toBe(201);
    const r = await strict("GET", `/devices/${device.id}/appProxy/app/y`, q.key);
    expect(r.status, JSON.stringify(r.body)).toBe(502);
    expect(r.body.reason).toBe("APP_PROXY_TARGET_NOT_ALLOWED");
  });

  it("webhooks: the delivery fails at once, naming the class", async () => {
    const q = await newProject();
    const hook = await call("POST", `/projects/${q.id}/webhooks`, { key: q.adminKey, body: { url } });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    expect(hook.body.url).toBe("http://[::ffff:0:7f00:1]:9/x");
    const message = { projectId: q.id, webhookId: hook.body.id, deliveryId: "d-embedded", eventType: "x", body: "{}" };
    const batch = createMessageBatch("edge-device-cloud-webhooks", [{ id: "m1", timestamp: new Date(), attempts: 1, body: message }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, { ...env, ...STRICT });
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual(["m1"]);
    const list = await get(`/projects/${q.id}/webhooks/${hook.body.id}/deliveries`, q.adminKey);
    expect(list.body).toEqual([expect.objectContaining({ deliveryId: "d-embedded", outcome: "failed", statusCode: null, error: expect.stringMatching(/loopback/) })]);
  });
});
