import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { call, del, get, OPERATOR, patch, post } from "./helpers/api";
import { addMember, newHome, newProject, newUser, setProjectRole } from "./helpers/fixtures";

// Every sign-up and login runs PBKDF2 (100,000 rounds); on a shared, busy machine a test
// making several users can pass the default 5 s without anything being wrong.
vi.setConfig({ testTimeout: 30_000 });

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * Puts a device row straight into a home. Devices have their own routes (and
 * their own tests); here a device is only the thing that makes a home
 * non-empty, so it is seeded in the real D1 without depending on those routes.
 */
async function seedDevice(projectId: number, homeId: number): Promise<number> {
  const r = crypto.randomUUID();
  const row = await env.DB.prepare(
    `insert into devices (project_id, device_class, home_id, api_key_digest, api_key_cipher, claim_code_digest, claim_code_cipher, creation_time)
     values (?, 'smart_light', ?, ?, 'x', ?, 'x', ?) returning id`,
  )
    .bind(projectId, homeId, `k${r}`, `c${r}`, new Date().toISOString())
    .first<{ id: number }>();
  return row!.id;
}

const errorFields = (r: { body: { data?: { errors?: object } } }) => Object.keys(r.body.data?.errors ?? {}).sort();

describe("creating homes", () => {
  it("makes the user who creates a home its owner", async () => {
    const project = await newProject();
    const user = await newUser(project.id, "ada");
    const created = await post("/homes", { name: "Flat" }, user.token);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.any(Number), projectId: project.id, name: "Flat", deactivated: false, creationTime: expect.stringMatching(TIME) });

    const read = await get(`/homes/${created.body.id}`, user.token);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);

    const members = await get(`/homes/${created.body.id}/members`, user.token);
    expect(members.status).toBe(200);
    expect(members.body).toEqual([
      { userId: user.id, homeId: created.body.id, name: "ada", email: user.email, verified: false, role: "owner", creationTime: expect.stringMatching(TIME) },
    ]);
    expect(members.headers.get("vnd.tinkermode.range")).toBe("0-0/1");
  });

  it("lets a project key or the operator create a home for a project, with no members", async () => {
    const project = await newProject();
    const other = await newProject();
    for (const key of [project.key, project.adminKey, OPERATOR]) {
      const h = await post("/homes", { name: "lobby", projectId: project.id }, key);
      expect(h.status, JSON.stringify(h.body)).toBe(201);
      expect(h.body.projectId).toBe(project.id);
      const members = await get(`/homes/${h.body.id}/members`, key);
      expect(members.body).toEqual([]);
      expect(members.headers.get("vnd.tinkermode.range")).toBe("*/0");
    }
    const missing = await post("/homes", { name: "lobby" }, project.key);
    expect(missing.status).toBe(400);
    expect(errorFields(missing)).toEqual(["projectId"]);
    // Another project is invisible to the key: 404, as for a project that does not exist.
    expect((await post("/homes", { name: "lobby", projectId: other.id }, project.adminKey)).status).toBe(404);
    const nowhere = await post("/homes", { name: "lobby", projectId: 987654321 }, OPERATOR);
    expect(nowhere.status).toBe(404);
    expect(nowhere.body).toEqual({ reason: "PROJECT_NOT_FOUND" });

    // A user may name their own project, but no other.
    const user = await newUser(project.id);
    expect((await post("/homes", { name: "mine", projectId: project.id }, user.token)).status).toBe(201);
    expect((await post("/homes", { name: "theirs", projectId: other.id }, user.token)).status).toBe(404);
    expect((await post("/homes", { name: "anon" })).status).toBe(401);

    // Nothing was made in the other project by any of the refused calls.
    expect((await get(`/homes?projectId=${other.id}`, other.key)).headers.get("vnd.tinkermode.range")).toBe("*/0");
  });
});

describe("listing homes", () => {
  it("lists a user's homes with skip/limit and a range header", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const ids = [];
    for (const name of ["a", "b", "c"]) ids.push((await newHome(user.token, name)).id);
    // A home of someone else, and a project-made home, are not the user's.
    await newHome((await newUser(project.id)).token);
    await post("/homes", { name: "lobby", projectId: project.id }, project.key);

    const all = await get(`/homes?userId=${user.id}`, user.token);
    expect(all.status).toBe(200);
    expect(all.body.map((h: { id: number }) => h.id)).toEqual(ids);
    expect(all.headers.get("vnd.tinkermode.range")).toBe("0-2/3");

    const page = await get(`/homes?userId=${user.id}&skip=1&limit=1`, user.token);
    expect(page.body.map((h: { id: number }) => h.id)).toEqual([ids[1]]);
    expect(page.headers.get("vnd.tinkermode.range")).toBe("1-1/3");

    const past = await get(`/homes?userId=${user.id}&skip=5`, user.token);
    expect(past.body).toEqual([]);
    expect(past.headers.get("vnd.tinkermode.range")).toBe("*/3");

    const project_ = await get(`/homes?projectId=${project.id}&limit=1000`, project.key);
    expect(project_.status).toBe(200);
    expect(project_.headers.get("vnd.tinkermode.range")).toBe("0-4/5");
  });

  it("shows a user's homes to themself, the project's keys and project viewers only", async () => {
    const project = await newProject();
    const other = await newProject();
    const user = await newUser(project.id);
    await newHome(user.token);
    const peer = await newUser(project.id);
    const viewer = await newUser(project.id);
    await setProjectRole(project, viewer.id, "viewer");
    const foreigner = await newUser(other.id);
    await setProjectRole(other, foreigner.id, "admin");

    for (const key of [user.token, viewer.token, project.key, OPERATOR]) {
      const r = await get(`/homes?userId=${user.id}`, key);
      expect(r.status).toBe(200);
      expect(r.body).toHaveLength(1);
    }
    for (const key of [peer.token, foreigner.token, other.adminKey]) {
      const r = await get(`/homes?userId=${user.id}`, key);
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ reason: "PERMISSION_DENIED" });
    }
    // Probing for users elsewhere learns nothing: a missing user is the same 403.
    expect((await get("/homes?userId=987654321", project.key)).status).toBe(403);
    expect((await get("/homes?userId=987654321", OPERATOR)).body).toEqual({ reason: "USER_NOT_FOUND" });

    for (const key of [viewer.token, project.key, OPERATOR]) expect((await get(`/homes?projectId=${project.id}`, key)).status).toBe(200);
    for (const key of [user.token, foreigner.token, other.adminKey]) expect((await get(`/homes?projectId=${project.id}`, key)).status).toBe(403);
    expect((await get("/homes?projectId=987654321", OPERATOR)).status).toBe(404);
    expect((await get(`/homes?projectId=${project.id}`)).status).toBe(401);
  });

  it("needs exactly one of userId and projectId, and a sane page", async () => {
    const project = await newProject();
    const user = await newUser(project.id);
    const cases: [string, string[]][] = [
      ["/homes", ["projectId", "userId"]],
      [`/homes?userId=${user.id}&projectId=${project.id}`, ["projectId", "userId"]],
      ["/homes?userId=me", ["userId"]],
      ["/homes?projectId=0", ["projectId"]],
      [`/homes?userId=${user.id}&limit=0`, ["limit"]],
      [`/homes?userId=${user.id}&limit=1001`, ["limit"]],
      [`/homes?userId=${user.id}&skip=-1`, ["skip"]],
      [`/homes?userId=${user.id}&skip=two`, ["skip"]],
    ];
    for (const [path, fields] of cases) {
      const r = await get(path, user.token);
      expect(r.status, path).toBe(400);
      expect(r.body.reason).toBe("INVALID_INPUT");
      expect(errorFields(r), path).toEqual(fields);
    }
  });
});

describe("reading, renaming and deleting a home", () => {
  it("follows home and project roles, and hides the home from everyone else", async () => {
    const project = await newProject();
    const other = await newProject();
    const owner = await newUser(project.id);
    const member = await newUser(project.id);
    const stranger = await newUser(project.id);
    const editor = await newUser(project.id);
    await setProjectRole(project, editor.id, "editor");
    const foreigner = await newUser(other.id);
    await setProjectRole(other, foreigner.id, "admin");
    const home = await newHome(owner.token, "original");
    await addMember(home.id, owner.token, member.email);

    // Outside the home and without a project role: the home does not exist.
    for (const key of [stranger.token, foreigner.token, other.adminKey]) {
      expect((await get(`/homes/${home.id}`, key)).body).toEqual({ reason: "HOME_NOT_FOUND" });
      expect((await patch(`/homes/${home.id}`, { name: "mine" }, key)).status).toBe(404);
      expect((await del(`/homes/${home.id}`, key)).status).toBe(404);
      expect((await get(`/homes/${home.id}/members`, key)).status).toBe(404);
    }
    // A member sees it but may neither rename nor delete it.
    expect((await get(`/homes/${home.id}`, member.token)).status).toBe(200);
    expect((await patch(`/homes/${home.id}`, { name: "by member" }, member.token)).status).toBe(403);
    expect((await del(`/homes/${home.id}`, member.token)).status).toBe(403);
    // A project editor may rename but not delete.
    expect((await patch(`/homes/${home.id}`, { name: "by editor" }, editor.token)).status).toBe(204);
    expect((await del(`/homes/${home.id}`, editor.token)).status).toBe(403);
    expect((await get(`/homes/${home.id}`, owner.token)).body.name).toBe("by editor");

    expect((await patch(`/homes/${home.id}`, { name: "by owner" }, owner.token)).status).toBe(204);
    expect((await get(`/homes/${home.id}`, project.key)).body.name).toBe("by owner");
    expect((await del(`/homes/${home.id}`, owner.token)).status).toBe(204);
    expect((await get(`/homes/${home.id}`, owner.token)).status).toBe(404);
    expect((await get(`/homes/${home.id}`, OPERATOR)).status).toBe(404);
    // The former members no longer have the home.
    expect((await get(`/homes?userId=${member.id}`, member.token)).body).toEqual([]);
    expect((await get(`/homes?userId=${owner.id}`, owner.token)).headers.get("vnd.tinkermode.range")).toBe("*/0");
  });

  it("lets a project admin user or a project key delete any home of the project", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const admin = await newUser(project.id);
    await setProjectRole(project, admin.id, "admin");
    const a = await newHome(owner.token);
    const b = await newHome(owner.token);
    expect((await del(`/homes/${a.id}`, admin.token)).status).toBe(204);
    expect((await del(`/homes/${b.id}`, project.key)).status).toBe(204);
    expect((await get(`/homes?userId=${owner.id}`, owner.token)).body).toEqual([]);
  });

  it("refuses to delete a home that still holds devices", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token);
    const deviceId = await seedDevice(project.id, home.id);

    const refused = await del(`/homes/${home.id}`, owner.token);
    expect(refused.status).toBe(409);
    expect(refused.body.reason).toBe("HOME_NOT_EMPTY");
    expect((await del(`/homes/${home.id}`, project.adminKey)).status).toBe(409);
    // The home, its owner and its device are all still there.
    expect((await get(`/homes/${home.id}/members`, owner.token)).body).toHaveLength(1);
    const device = await env.DB.prepare("select home_id from devices where id = ?").bind(deviceId).first<{ home_id: number }>();
    expect(device?.home_id).toBe(home.id);

    await env.DB.prepare("update devices set home_id = null where id = ?").bind(deviceId).run();
    expect((await del(`/homes/${home.id}`, owner.token)).status).toBe(204);
  });

  it("rejects bad input on GET, PATCH and DELETE /homes/{id} and changes nothing", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const home = await newHome(owner.token, "kept");
    const bodies: [unknown, string[]][] = [
      [{ name: "" }, ["name"]],
      [{ name: "n".repeat(257) }, ["name"]],
      [{ name: 12 }, ["name"]],
      [{ deactivated: "yes" }, ["deactivated"]],
      [{ name: "x", projectId: project.id }, ["projectId"]],
      [null, ["body"]],
    ];
    for (const [body, fields] of bodies) {
      const r = await patch(`/homes/${home.id}`, body, owner.token);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.reason).toBe("INVALID_INPUT");
      expect(errorFields(r), JSON.stringify(body)).toEqual(fields);
    }
    const malformed = await call("PATCH", `/homes/${home.id}`, { key: owner.token, body: '{"name":', contentType: "application/json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.reason).toBe("INVALID_INPUT");
    for (const id of ["abc", "0", "-1", "1e3", "99999999999999999999"]) {
      for (const r of [await get(`/homes/${id}`, owner.token), await patch(`/homes/${id}`, { name: "x" }, owner.token), await del(`/homes/${id}`, owner.token)]) {
        expect(r.status, id).toBe(400);
        expect(errorFields(r)).toEqual(["homeId"]);
      }
    }
    expect((await get(`/homes/${home.id}`, owner.token)).body.name).toBe("kept");
  });

  it("rejects bad input on POST /homes and stores nothing", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const bodies: [unknown, string[]][] = [
      [{ name: "" }, ["name"]],
      [{ name: "n".repeat(257) }, ["name"]],
      [{ name: ["x"] }, ["name"]],
      [{ name: "x", owner: owner.id }, ["owner"]],
      [{ name: "x", projectId: "first" }, ["projectId"]],
      ["just a string", ["body"]],
    ];
    for (const [body, fields] of bodies) {
      const r = await post("/homes", body, owner.token);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(errorFields(r), JSON.stringify(body)).toEqual(fields);
    }
    const malformed = await call("POST", "/homes", { key: owner.token, body: "{name: x}", contentType: "application/json" });
    expect(malformed.status).toBe(400);
    expect(malformed.body.reason).toBe("INVALID_INPUT");
    expect((await get(`/homes?projectId=${project.id}`, project.key)).headers.get("vnd.tinkermode.range")).toBe("*/0");
  });
});

describe("home members", () => {
  it("adds a user of the project by email, once", async () => {
    const project = await newProject();
    const other = await newProject();
    const owner = await newUser(project.id);
    const friend = await newUser(project.id, "friend");
    const foreigner = await newUser(other.id);
    const home = await newHome(owner.token);

    expect((await get(`/homes/${home.id}`, friend.token)).status).toBe(404);
    const added = await post(`/homes/${home.id}/members`, { email: ` ${friend.email.toUpperCase()} `, role: "member" }, owner.token);
    expect(added.status).toBe(201);
    expect(added.body).toEqual({
      userId: friend.id,
      homeId: home.id,
      name: "friend",
      email: friend.email,
      verified: false,
      role: "member",
      creationTime: expect.stringMatching(TIME),
    });
    expect((await get(`/homes/${home.id}`, friend.token)).status).toBe(200);
    expect((await get(`/homes?userId=${friend.id}`, friend.token)).body.map((h: { id: number }) => h.id)).toEqual([home.id]);

    const again = await post(`/homes/${home.id}/members`, { email: friend.email, role: "owner" }, owner.token);
    expect(again.status).toBe(409);
    expect(again.body.reason).toBe("USER_EXISTS");
    const unknown = await post(`/homes/${home.id}/members`, { email: "nobody@example.com", role: "member" }, owner.token);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ reason: "UNKNOWN_EMAIL" });
    // A user of another project is unknown here.
    expect((await post(`/homes/${home.id}/members`, { email: foreigner.email, role: "member" }, owner.token)).body.reason).toBe("UNKNOWN_EMAIL");

    const list = await get(`/homes/${home.id}/members`, friend.token);
    expect(list.body.map((m: { userId: number; role: string }) => [m.userId, m.role])).toEqual([
      [owner.id, "owner"],
      [friend.id, "member"],
    ]);
  });

  it("lets only those who manage members add them", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const member = await newUser(project.id);
    const stranger = await newUser(project.id);
    const viewer = await newUser(project.id);
    await setProjectRole(project, viewer.id, "viewer");
    const admin = await newUser(project.id);
    await setProjectRole(project, admin.id, "admin");
    const home = await newHome(owner.token);
    await addMember(home.id, owner.token, member.email);
    const candidate = await newUser(project.id);

    expect((await post(`/homes/${home.id}/members`, { email: candidate.email, role: "member" }, member.token)).status).toBe(403);
    expect((await post(`/homes/${home.id}/members`, { email: candidate.email, role: "member" }, viewer.token)).status).toBe(403);
    expect((await post(`/homes/${home.id}/members`, { email: candidate.email, role: "member" }, stranger.token)).status).toBe(404);
    // The project viewer can see the members, though.
    expect((await get(`/homes/${home.id}/members`, viewer.token)).body).toHaveLength(2);
    expect((await get(`/homes/${home.id}/members`, member.token)).body).toHaveLength(2);

    expect((await post(`/homes/${home.id}/members`, { email: candidate.email, role: "member" }, admin.token)).status).toBe(201);
    const keyAdded = await newUser(project.id);
    expect((await post(`/homes/${home.id}/members`, { email: keyAdded.email, role: "owner" }, project.key)).status).toBe(201);
    expect((await get(`/homes/${home.id}/members`, owner.token)).body).toHaveLength(4);
  });

  it("never leaves a home without an owner", async () => {
    const project = await newProject();
    const first = await newUser(project.id);
    const second = await newUser(project.id);
    const member = await newUser(project.id);
    const home = await newHome(first.token);
    await addMember(home.id, first.token, member.email);

    const demote = await patch(`/homes/${home.id}/members/${first.id}`, { role: "member" }, first.token);
    expect(demote.status).toBe(409);
    expect(demote.body.reason).toBe("LAST_OWNER");
    const leave = await del(`/homes/${home.id}/members/${first.id}`, first.token);
    expect(leave.status).toBe(409);
    expect(leave.body.reason).toBe("LAST_OWNER");
    // Not even the project's admin key can remove the last owner.
    expect((await del(`/homes/${home.id}/members/${first.id}`, project.adminKey)).body.reason).toBe("LAST_OWNER");

    await addMember(home.id, first.token, second.email, "owner");
    expect((await patch(`/homes/${home.id}/members/${first.id}`, { role: "member" }, first.token)).status).toBe(204);
    // Demoted, the first user no longer manages members.
    expect((await patch(`/homes/${home.id}/members/${member.id}`, { role: "owner" }, first.token)).status).toBe(403);
    expect((await del(`/homes/${home.id}/members/${first.id}`, second.token)).status).toBe(204);
    expect((await get(`/homes/${home.id}`, first.token)).status).toBe(404);

    // (Second, added by first, could now leave even as the last owner: test/members/leaving.test.ts.)
    expect((await patch(`/homes/${home.id}/members/${second.id}`, { role: "member" }, project.adminKey)).body.reason).toBe("LAST_OWNER");
    expect((await del(`/homes/${home.id}/members/${second.id}`, project.adminKey)).body.reason).toBe("LAST_OWNER");
    // Promoting another member first makes leaving possible.
    expect((await patch(`/homes/${home.id}/members/${member.id}`, { role: "owner" }, second.token)).status).toBe(204);
    expect((await del(`/homes/${home.id}/members/${second.id}`, second.token)).status).toBe(204);
    const left = await get(`/homes/${home.id}/members`, member.token);
    expect(left.body.map((m: { userId: number; role: string }) => [m.userId, m.role])).toEqual([[member.id, "owner"]]);
  });

  it("lets a member leave, but not remove others; and 404s for non-members", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const a = await newUser(project.id);
    const b = await newUser(project.id);
    const outsider = await newUser(project.id);
    const home = await newHome(owner.token);
    await addMember(home.id, owner.token, a.email);
    await addMember(home.id, owner.token, b.email);

    expect((await del(`/homes/${home.id}/members/${b.id}`, a.token)).status).toBe(403);
    expect((await patch(`/homes/${home.id}/members/${a.id}`, { role: "owner" }, a.token)).status).toBe(403);
    expect((await del(`/homes/${home.id}/members/${a.id}`, a.token)).status).toBe(204);
    expect((await get(`/homes/${home.id}`, a.token)).status).toBe(404);
    expect((await del(`/homes/${home.id}/members/${b.id}`, owner.token)).status).toBe(204);

    const notMember = await patch(`/homes/${home.id}/members/${outsider.id}`, { role: "owner" }, owner.token);
    expect(notMember.status).toBe(404);
    expect(notMember.body).toEqual({ reason: "MEMBER_NOT_FOUND" });
    expect((await del(`/homes/${home.id}/members/${outsider.id}`, owner.token)).status).toBe(404);
    // An outsider "leaving" a home they cannot see learns nothing about it.
    expect((await del(`/homes/${home.id}/members/${outsider.id}`, outsider.token)).body).toEqual({ reason: "HOME_NOT_FOUND" });
    expect((await get(`/homes/${home.id}/members`, owner.token)).body).toHaveLength(1);
  });

  it("does not reach across homes", async () => {
    const project = await newProject();
    const alice = await newUser(project.id);
    const bob = await newUser(project.id);
    const aliceHome = await newHome(alice.token);
    const bobHome = await newHome(bob.token);
    // Alice owns her home, not Bob's: she cannot add herself to his or remove him.
    expect((await post(`/homes/${bobHome.id}/members`, { email: alice.email, role: "owner" }, alice.token)).status).toBe(404);
    expect((await del(`/homes/${bobHome.id}/members/${bob.id}`, alice.token)).status).toBe(404);
    // Bob, not a member of Alice's home, is not found through it.
    expect((await patch(`/homes/${aliceHome.id}/members/${bob.id}`, { role: "member" }, alice.token)).status).toBe(404);
    expect((await get(`/homes/${bobHome.id}/members`, bob.token)).body).toHaveLength(1);
  });

  it("rejects bad input on every members endpoint and stores nothing", async () => {
    const project = await newProject();
    const owner = await newUser(project.id);
    const friend = await newUser(project.id);
    const home = await newHome(owner.token);
    const bodies: [unknown, string[]][] = [
      [{ email: "not an email", role: "member" }, ["email"]],
      [{ email: `${"a".repeat(320)}@example.com`, role: "member" }, ["email"]],
      [{ email: friend.email, role: "boss" }, ["role"]],
      [{ email: friend.email, role: "member", userId: friend.id }, ["userId"]],
      [{ role: "member" }, ["email"]],
      [{ email: 5 }, ["email"]],
    ];
    for (const [body, fields] of bodies) {
      const r = await post(`/homes/${home.id}/members`, body, owner.token);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.reason).toBe("INVALID_INPUT");
      expect(errorFields(r), JSON.stringify(body)).toEqual(fields);
    }
    const malformed = await call("POST", `/homes/${home.id}/members`, { key: owner.token, body: "{", contentType: "application/json" });
    expect(malformed.status).toBe(400);

    for (const body of [{ role: "admin" }, {}, { role: "owner", name: "x" }, { role: null }]) {
      const r = await patch(`/homes/${home.id}/members/${owner.id}`, body, owner.token);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.reason).toBe("INVALID_INPUT");
    }
    for (const path of [`/homes/x/members/${owner.id}`, `/homes/${home.id}/members/0`, `/homes/${home.id}/members/me`]) {
      for (const r of [await patch(path, { role: "member" }, owner.token), await del(path, owner.token)]) {
        expect(r.status, path).toBe(400);
        expect(r.body.reason).toBe("INVALID_INPUT");
      }
    }
    expect((await get("/homes/x/members", owner.token)).status).toBe(400);
    expect(errorFields(await get(`/homes/${home.id}/members?limit=0`, owner.token))).toEqual(["limit"]);

    const members = await get(`/homes/${home.id}/members`, owner.token);
    expect(members.body.map((m: { userId: number; role: string }) => [m.userId, m.role])).toEqual([[owner.id, "owner"]]);
  });
});
