/** Pagination and the range header over more devices than one page. */
import { describe, expect, it } from "vitest";
import { get } from "../helpers/api";
import { newDevice, newProject } from "../helpers/fixtures";

describe("GET /devices pagination", () => {
  it("pages by skip/limit with vnd.tinkermode.range, 25 by default, in id order", async () => {
    const project = await newProject();
    const made: number[] = [];
    for (let i = 0; i < 30; i++) made.push((await newDevice(project, { deviceClass: i % 3 === 0 ? "smart_sensor" : "smart_light" })).id);

    const first = await get(`/devices?projectId=${project.id}`, project.key);
    expect(first.status).toBe(200);
    expect(first.body.map((d: { id: number }) => d.id)).toEqual(made.slice(0, 25));
    expect(first.headers.get("vnd.tinkermode.range")).toBe("0-24/30");

    const second = await get(`/devices?projectId=${project.id}&skip=25&limit=25`, project.key);
    expect(second.body.map((d: { id: number }) => d.id)).toEqual(made.slice(25));
    expect(second.headers.get("vnd.tinkermode.range")).toBe("25-29/30");

    const beyond = await get(`/devices?projectId=${project.id}&skip=40`, project.key);
    expect(beyond.body).toEqual([]);
    expect(beyond.headers.get("vnd.tinkermode.range")).toBe("*/30");

    const sensors = await get(`/devices?projectId=${project.id}&deviceClass=smart_sensor&limit=3&skip=1`, project.key);
    expect(sensors.body.map((d: { id: number }) => d.id)).toEqual(made.filter((_, i) => i % 3 === 0).slice(1, 4));
    expect(sensors.headers.get("vnd.tinkermode.range")).toBe("1-3/10");
  });

  it("exposes the range header to browsers", async () => {
    const project = await newProject();
    const res = await get(`/devices?projectId=${project.id}`, project.key);
    // CORS exposure is on actual responses to cross-origin requests.
    expect(res.status).toBe(200);
    const cors = await fetchWithOrigin(`/devices?projectId=${project.id}`, project.key);
    expect(cors.headers.get("access-control-expose-headers")).toContain("vnd.tinkermode.range");
  });
});

async function fetchWithOrigin(path: string, key: string) {
  const { exports } = await import("cloudflare:workers");
  return exports.default.fetch(new Request(`http://cloud.test${path}`, { headers: { authorization: `ModeCloud ${key}`, origin: "https://app.example" } }));
}
