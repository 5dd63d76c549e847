/**
 * An operator who deploys or restarts with the wrong KEY_ENCRYPTION_KEY gets a
 * response and a log line that say so, not a bare 500 with "Decryption
 * failed". The worker is called through its default export with a changed
 * env (the same worker, D1 and objects; only the secret differs), as a
 * deployment with another secret would run it.
 */
import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { get } from "../helpers/api";
import { newDevice, newProject } from "../helpers/fixtures";

/** 32 bytes other than the test key (vitest.config.ts). */
const OTHER_KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));

async function callWithKey(keyEncryptionKey: string, method: string, path: string, key: string, body?: unknown) {
  const headers = new Headers({ authorization: `ModeCloud ${key}` });
  if (body !== undefined) headers.set("content-type", "application/json");
  const request = new Request(`http://cloud.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, { ...env, KEY_ENCRYPTION_KEY: keyEncryptionKey }, ctx);
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as { reason: string; data?: Record<string, unknown> } };
}

/** What the worker wrote with console.error during `run`, as one string. */
async function errorLog(run: () => Promise<void>): Promise<string> {
  const spy = vi.spyOn(console, "error").mockImplementation(() => {});
  await run();
  return spy.mock.calls.map((args) => args.map(String).join(" ")).join("\n");
}

afterEach(() => vi.restoreAllMocks());

describe("KEY_ENCRYPTION_KEY other than the one that sealed the stored secrets", () => {
  it("answers 500 KEY_ENCRYPTION_KEY_MISMATCH and logs what to do; the stored secrets stay readable with the right key", async () => {
    const project = await newProject();
    const device = await newDevice(project);
    let res!: Awaited<ReturnType<typeof callWithKey>>;
    const log = await errorLog(async () => {
      res = await callWithKey(OTHER_KEY, "GET", `/devices/${device.id}?includeAdminInfo=true`, project.adminKey);
    });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ reason: "KEY_ENCRYPTION_KEY_MISMATCH", data: { variable: "KEY_ENCRYPTION_KEY" } });
    expect(log).toContain("KEY_ENCRYPTION_KEY");
    expect(log).toMatch(/differs from the key that encrypted/);
    expect(log).toMatch(/restore/i);
    expect(log).not.toContain(OTHER_KEY);

    // Without admin info nothing needs decrypting: the device reads as usual.
    const plain = await callWithKey(OTHER_KEY, "GET", `/devices/${device.id}`, project.adminKey);
    expect(plain.status).toBe(200);

    // Nothing was lost: with the original key the secrets read back.
    const admin = await get(`/devices/${device.id}?includeAdminInfo=true`, project.adminKey);
    expect(admin.status).toBe(200);
    expect(admin.body).toMatchObject({ apiKey: device.apiKey, claimCode: device.claimCode });
  });
});

describe("a malformed KEY_ENCRYPTION_KEY", () => {
  const malformed: [string, string, RegExp][] = [
    ["not base64", "this is not base64!", /not base64/],
    ["16 bytes", btoa("0123456789abcdef"), /16 bytes, not 32/],
    ["empty", "", /empty/],
  ];

  for (const [what, value, problem] of malformed) {
    it(`(${what}) answers 500 KEY_ENCRYPTION_KEY_INVALID naming the variable, when sealing and when opening`, async () => {
      const project = await newProject();
      const device = await newDevice(project);

      let read!: Awaited<ReturnType<typeof callWithKey>>;
      let made!: Awaited<ReturnType<typeof callWithKey>>;
      const log = await errorLog(async () => {
        read = await callWithKey(value, "GET", `/devices/${device.id}?includeAdminInfo=true`, project.adminKey);
        made = await callWithKey(value, "POST", "/devices", project.adminKey, { projectId: project.id, deviceClass: "smart_light", tag: `bad-kek-${what}` });
      });
      for (const res of [read, made]) {
        expect(res.status).toBe(500);
        expect(res.body.reason).toBe("KEY_ENCRYPTION_KEY_INVALID");
        expect(res.body.data?.variable).toBe("KEY_ENCRYPTION_KEY");
        expect(String(res.body.data?.problem)).toMatch(problem);
      }
      expect(log).toMatch(/KEY_ENCRYPTION_KEY .*: it must be 32 random bytes in base64/);

      // No device was half-made without its secrets.
      const list = await get(`/devices?projectId=${project.id}`, project.adminKey);
      expect(list.status).toBe(200);
      expect(list.body.map((d: { tag: string }) => d.tag)).not.toContain(`bad-kek-${what}`);
    });
  }
});
