/**
 * Property: a home's members, under any sequence of adds, leaves, removals
 * and role changes by its users, end up exactly as a model of the rules says,
 * and every answer on the way is the one the rules give: owners manage
 * members; anyone leaves a home they do not alone own, and one who was added
 * by someone else leaves even as its last owner (nobody is kept in a home
 * they did not create); otherwise `409 LAST_OWNER`, and nobody removes or
 * demotes the last owner; only the creator's membership is their own doing
 * (`origin`), so only it counts against their homesPerUser. Each run is a
 * fresh home made by the first user.
 *
 * A failure prints the fast-check seed; `FC_SEED=<seed>` replays the run.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { call, get, post } from "../helpers/api";
import { newHome, newProject, newUser, type User } from "../helpers/fixtures";
import { checkProperty } from "./fuzz/run";

vi.setConfig({ testTimeout: 240_000, hookTimeout: 60_000 });

type Role = "owner" | "member";
type Step =
  | { op: "add"; actor: number; target: number; role: Role }
  | { op: "leave"; actor: number }
  | { op: "remove"; actor: number; target: number }
  | { op: "setRole"; actor: number; target: number; role: Role };

/**
 * A user as drawn: mostly one of the home's members at that point (the k-th,
 * so steps drawn before the run still mostly reach the rules), sometimes any
 * user, member or not.
 */
type Pick = { among: "members" | "users"; k: number };

const USERS = 4;
const who = fc.integer({ min: 0, max: USERS - 1 });
const pick: fc.Arbitrary<Pick> = fc.record({ among: fc.constantFrom<Pick["among"]>("members", "members", "members", "users"), k: who });
const anyone: fc.Arbitrary<Pick> = fc.record({ among: fc.constant("users" as const), k: who });
const role = fc.constantFrom<Role>("owner", "member");
type Drawn = { op: Step["op"]; actor: Pick; target?: Pick; role?: Role };
const step: fc.Arbitrary<Drawn> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant("add" as const), actor: pick, target: anyone, role }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("leave" as const), actor: pick }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("remove" as const), actor: pick, target: pick }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("setRole" as const), actor: pick, target: pick, role }) },
);

function resolve(members: Map<number, Role>, d: Drawn): Step {
  const ids = [...members.keys()].sort();
  const user = (p: Pick) => (p.among === "members" && ids.length > 0 ? ids[p.k % ids.length]! : p.k);
  return { ...d, actor: user(d.actor), ...(d.target ? { target: user(d.target) } : {}) } as Step;
}

/** What the rules answer, and the members after it (a copy; the input is left alone). */
function expected(members: Map<number, Role>, s: Step, creatorStayed: boolean): { status: number; reason?: string; after: Map<number, Role> } {
  const after = new Map(members);
  const actorRole = members.get(s.actor);
  // A user who is no member does not see the home (these users have no project role).
  if (actorRole === undefined) return { status: 404, reason: "HOME_NOT_FOUND", after };
  const owners = [...members.values()].filter((r) => r === "owner").length;
  const lastOwner = (u: number) => members.get(u) === "owner" && owners === 1;
  switch (s.op) {
    case "leave":
      // Only the creator's first membership is their own doing: anyone else may go, last owner or not.
      if (lastOwner(s.actor) && s.actor === 0 && creatorStayed) return { status: 409, reason: "LAST_OWNER", after };
      after.delete(s.actor);
      return { status: 204, after };
    case "add":
      if (actorRole !== "owner") return { status: 403, reason: "PERMISSION_DENIED", after };
      if (members.has(s.target)) return { status: 409, reason: "USER_EXISTS", after };
      after.set(s.target, s.role);
      return { status: 201, after };
    case "remove":
      // Removing oneself is leaving, whatever one's role.
      if (s.target === s.actor) return expected(members, { op: "leave", actor: s.actor }, creatorStayed);
      if (actorRole !== "owner") return { status: 403, reason: "PERMISSION_DENIED", after };
      if (!members.has(s.target)) return { status: 404, reason: "MEMBER_NOT_FOUND", after };
      if (lastOwner(s.target)) return { status: 409, reason: "LAST_OWNER", after };
      after.delete(s.target);
      return { status: 204, after };
    case "setRole":
      if (actorRole !== "owner") return { status: 403, reason: "PERMISSION_DENIED", after };
      if (!members.has(s.target)) return { status: 404, reason: "MEMBER_NOT_FOUND", after };
      if (s.role === "member" && lastOwner(s.target)) return { status: 409, reason: "LAST_OWNER", after };
      after.set(s.target, s.role);
      return { status: 204, after };
  }
}

let users: User[];
let project: Awaited<ReturnType<typeof newProject>>;

beforeAll(async () => {
  project = await newProject();
  users = await Promise.all(Array.from({ length: USERS }, (_, i) => newUser(project.id, `u${i}`)));
});

async function perform(homeId: number, s: Step) {
  const actor = users[s.actor]!;
  switch (s.op) {
    case "add":
      return post(`/homes/${homeId}/members`, { email: users[s.target]!.email, role: s.role }, actor.token);
    case "leave":
      return call("DELETE", `/homes/${homeId}/members/${actor.id}`, { key: actor.token });
    case "remove":
      return call("DELETE", `/homes/${homeId}/members/${users[s.target]!.id}`, { key: actor.token });
    case "setRole":
      return call("PATCH", `/homes/${homeId}/members/${users[s.target]!.id}`, { key: actor.token, body: { role: s.role } });
  }
}

describe("home membership", () => {
  it("follows the model under random adds, leaves, removals and role changes", async () => {
    await checkProperty(
      "membership model",
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 16 }), async (steps) => {
        const home = await newHome(users[0]!.token);
        let members = new Map<number, Role>([[0, "owner"]]);
        let creatorStayed = true;
        for (const [i, drawn] of steps.entries()) {
          const s = resolve(members, drawn);
          const want = expected(members, s, creatorStayed);
          const got = await perform(home.id, s);
          const where = `step ${i} ${JSON.stringify(s)} with members ${JSON.stringify([...members])}`;
          expect(got.status, `${where}: ${JSON.stringify(got.body)}`).toBe(want.status);
          if (want.reason) expect(got.body?.reason, where).toBe(want.reason);
          members = want.after;
          if (!members.has(0)) creatorStayed = false;
        }
        // A home everyone left stays with the project, whose key still reads it.
        const reader = members.size > 0 ? users[[...members.keys()][0]!]!.token : project.adminKey;
        const listed = await get(`/homes/${home.id}/members`, reader);
        const model = [...members].map(([u, r]) => ({ userId: users[u]!.id, role: r })).sort((a, b) => a.userId - b.userId);
        expect(listed.body.map((m: { userId: number; role: Role }) => ({ userId: m.userId, role: m.role }))).toEqual(model);
        // Only the creator's first membership was their own doing; every other one, a
        // creator who left and was added back included, was someone else's.
        const rows = await env.DB.prepare("SELECT user_id AS userId, origin FROM home_members WHERE home_id = ? ORDER BY user_id").bind(home.id).all<{ userId: number; origin: string }>();
        expect(rows.results).toEqual(model.map((m) => ({ userId: m.userId, origin: m.userId === users[0]!.id && creatorStayed ? "own" : "added" })));
      }),
      30,
    );
  });
});
