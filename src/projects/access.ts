/**
 * Loading a project for a caller: a project the caller does not belong to is
 * 404, exactly as one that does not exist; a right it lacks is 403.
 */
import { eq } from "drizzle-orm";
import type { Principal } from "../auth/principal";
import { demand, projectRights } from "../auth/policy";
import { db } from "../db/client";
import { projects } from "../db/schema";
import { notFound } from "../http/errors";

export type ProjectRow = typeof projects.$inferSelect;
export type ProjectRights = ReturnType<typeof projectRights>;

/** The project and the caller's rights in it; 404 unless visible, 403 unless `right` (when named) is granted. */
export async function loadProject(env: Env, who: Principal, projectId: number, right?: keyof ProjectRights): Promise<{ project: ProjectRow; rights: ProjectRights }> {
  const rights = projectRights(who, projectId);
  // Nothing is read for a project the caller cannot belong to.
  const project = rights.see ? await db(env).query.projects.findFirst({ where: eq(projects.id, projectId) }) : undefined;
  if (!project) throw notFound("PROJECT_NOT_FOUND");
  if (right) demand(rights, right);
  return { project, rights };
}
