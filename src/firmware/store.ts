/**
 * Firmware registration in D1: component versions (with their config schema)
 * and bundles made of component versions. Registrations are immutable: a
 * second registration under the same name is a conflict, never an overwrite,
 * because devices in the field already report bundles by id.
 */
import { and, asc, count, eq, inArray } from "drizzle-orm";
import { db } from "../db/client";
import { firmwareBundleComponents, firmwareBundles, firmwareComponentVersions } from "../db/schema";
import { constraintOf } from "../http/errors";
import { now } from "../http/time";
import { upToChars } from "../limits/fields";
import { refuseFirmwareBundlesOverCap, refuseFirmwareVersionsOverCap } from "../limits/caps";
import { type Artifact, artifactOf } from "./artifacts";
import type { DeviceConfigSchema } from "./configSchema";

const NAME = /^[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$/;
const NAME_TEXT = "letters and digits, separated by single - _ or .";

/** Component and component version names: the pattern of bundle ids. */
export const firmwareNameSchema = upToChars("firmwareNameChars").regex(NAME, NAME_TEXT);
/** The pattern `PUT /devices/{id}/firmwareInfo` accepts for `bundleId`. */
export const bundleIdSchema = upToChars("firmwareBundleIdChars").regex(NAME, NAME_TEXT);

/** D1 runs at most 100 bound parameters per statement: bundle rows (5 each) go in slices. */
const ROWS_PER_INSERT = 16;

export interface ComponentVersion {
  componentName: string;
  componentVersionName: string;
  deviceConfigSchema: DeviceConfigSchema;
  creationTime: string;
}

export interface ComponentRef {
  componentName: string;
  componentVersionName: string;
}

export interface Bundle {
  bundleId: string;
  componentVersions: ComponentRef[];
  creationTime: string;
  /** The bundle's image, once uploaded (./artifacts.ts). */
  artifact: Artifact | null;
}

const isUniqueViolation = (err: unknown): boolean => constraintOf(err) === "unique";

const versionOut = (row: typeof firmwareComponentVersions.$inferSelect): ComponentVersion => ({
  componentName: row.componentName,
  componentVersionName: row.componentVersionName,
  deviceConfigSchema: JSON.parse(row.deviceConfigSchema) as DeviceConfigSchema,
  creationTime: row.creationTime,
});

/** Registers a component version; null when that version is already registered. */
export async function insertComponentVersion(
  env: Env,
  projectId: number,
  v: { componentName: string; componentVersionName: string; deviceConfigSchema: DeviceConfigSchema },
): Promise<ComponentVersion | null> {
  await refuseFirmwareVersionsOverCap(env, projectId);
  try {
    const [row] = await db(env)
      .insert(firmwareComponentVersions)
      .values({ projectId, ...v, deviceConfigSchema: JSON.stringify(v.deviceConfigSchema), creationTime: now() })
      .returning();
    return versionOut(row!);
  } catch (err) {
    if (isUniqueViolation(err)) return null;
    throw err;
  }
}

export async function getComponentVersion(env: Env, projectId: number, ref: ComponentRef): Promise<ComponentVersion | null> {
  const row = await db(env).query.firmwareComponentVersions.findFirst({
    where: and(
      eq(firmwareComponentVersions.projectId, projectId),
      eq(firmwareComponentVersions.componentName, ref.componentName),
      eq(firmwareComponentVersions.componentVersionName, ref.componentVersionName),
    ),
  });
  return row ? versionOut(row) : null;
}

/** A page of a component's versions, oldest first. */
export async function listComponentVersions(env: Env, projectId: number, componentName: string, skip: number, limit: number) {
  const where = and(eq(firmwareComponentVersions.projectId, projectId), eq(firmwareComponentVersions.componentName, componentName));
  const d = db(env);
  const [rows, [total]] = await d.batch([
    d
      .select()
      .from(firmwareComponentVersions)
      .where(where)
      .orderBy(asc(firmwareComponentVersions.creationTime), asc(firmwareComponentVersions.componentVersionName))
      .limit(limit)
      .offset(skip),
    d.select({ n: count() }).from(firmwareComponentVersions).where(where),
  ]);
  return { items: rows.map(versionOut), total: total?.n ?? 0 };
}

/**
 * Which of the referenced component versions are not registered in the project,
 * by their index in `refs`. One query by component name (at most 64 names).
 */
export async function missingVersions(env: Env, projectId: number, refs: ComponentRef[]): Promise<number[]> {
  const names = [...new Set(refs.map((r) => r.componentName))];
  if (names.length === 0) return [];
  const rows = await db(env)
    .select({ componentName: firmwareComponentVersions.componentName, componentVersionName: firmwareComponentVersions.componentVersionName })
    .from(firmwareComponentVersions)
    .where(and(eq(firmwareComponentVersions.projectId, projectId), inArray(firmwareComponentVersions.componentName, names)));
  const known = new Set(rows.map((r) => `${r.componentName}\n${r.componentVersionName}`));
  return refs.flatMap((r, i) => (known.has(`${r.componentName}\n${r.componentVersionName}`) ? [] : [i]));
}

/** Registers a bundle and its component versions together; null when the bundle id is taken. */
export async function insertBundle(env: Env, projectId: number, bundleId: string, refs: ComponentRef[]): Promise<Bundle | null> {
  await refuseFirmwareBundlesOverCap(env, projectId);
  const d = db(env);
  const creationTime = now();
  const rows = refs.map((r, position) => ({ projectId, bundleId, position, ...r }));
  const slices = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    slices.push(d.insert(firmwareBundleComponents).values(rows.slice(i, i + ROWS_PER_INSERT)));
  }
  try {
    // One batch is one transaction: a bundle never exists with part of its components.
    await d.batch([d.insert(firmwareBundles).values({ projectId, bundleId, creationTime }), ...slices]);
  } catch (err) {
    if (isUniqueViolation(err)) return null;
    throw err;
  }
  return { bundleId, componentVersions: refs, creationTime, artifact: null };
}

/** A page of the project's bundles (oldest first) with their component versions, in one query. */
export async function listBundles(env: Env, projectId: number, skip: number, limit: number) {
  const d = db(env);
  const byProject = eq(firmwareBundles.projectId, projectId);
  const page = d
    .select({
      bundleId: firmwareBundles.bundleId,
      creationTime: firmwareBundles.creationTime,
      artifactSize: firmwareBundles.artifactSize,
      artifactSha256: firmwareBundles.artifactSha256,
      artifactTime: firmwareBundles.artifactTime,
    })
    .from(firmwareBundles)
    .where(byProject)
    .orderBy(asc(firmwareBundles.creationTime), asc(firmwareBundles.bundleId))
    .limit(limit)
    .offset(skip)
    .as("page");
  const c = firmwareBundleComponents;
  const [rows, [total]] = await d.batch([
    d
      .select({
        bundleId: page.bundleId,
        creationTime: page.creationTime,
        artifactSize: page.artifactSize,
        artifactSha256: page.artifactSha256,
        artifactTime: page.artifactTime,
        componentName: c.componentName,
        componentVersionName: c.componentVersionName,
      })
      .from(page)
      .leftJoin(c, and(eq(c.projectId, projectId), eq(c.bundleId, page.bundleId)))
      .orderBy(asc(page.creationTime), asc(page.bundleId), asc(c.position)),
    d.select({ n: count() }).from(firmwareBundles).where(byProject),
  ]);
  const items: Bundle[] = [];
  for (const row of rows) {
    let last = items.at(-1);
    if (last?.bundleId !== row.bundleId) {
      items.push((last = { bundleId: row.bundleId, componentVersions: [], creationTime: row.creationTime, artifact: artifactOf(row) }));
    }
    if (row.componentName !== null && row.componentVersionName !== null) {
      last.componentVersions.push({ componentName: row.componentName, componentVersionName: row.componentVersionName });
    }
  }
  return { items, total: total?.n ?? 0 };
}

export async function getBundle(env: Env, projectId: number, bundleId: string): Promise<Bundle | null> {
  const d = db(env);
  const [[bundle], parts] = await d.batch([
    d
      .select({
        creationTime: firmwareBundles.creationTime,
        artifactSize: firmwareBundles.artifactSize,
        artifactSha256: firmwareBundles.artifactSha256,
        artifactTime: firmwareBundles.artifactTime,
      })
      .from(firmwareBundles)
      .where(and(eq(firmwareBundles.projectId, projectId), eq(firmwareBundles.bundleId, bundleId)))
      .limit(1),
    d
      .select({ componentName: firmwareBundleComponents.componentName, componentVersionName: firmwareBundleComponents.componentVersionName })
      .from(firmwareBundleComponents)
      .where(and(eq(firmwareBundleComponents.projectId, projectId), eq(firmwareBundleComponents.bundleId, bundleId)))
      .orderBy(asc(firmwareBundleComponents.position)),
  ]);
  return bundle ? { bundleId, componentVersions: parts, creationTime: bundle.creationTime, artifact: artifactOf(bundle) } : null;
}

/**
 * The config schemas of a bundle's component versions, in bundle order:
 * what `GET /devices/{id}/configSchemas` serves. An unknown bundle has none.
 */
export async function configSchemasOf(env: Env, projectId: number, bundleId: string) {
  const c = firmwareBundleComponents;
  const v = firmwareComponentVersions;
  const rows = await db(env)
    .select({ componentName: v.componentName, componentVersionName: v.componentVersionName, deviceConfigSchema: v.deviceConfigSchema })
    .from(c)
    .innerJoin(v, and(eq(v.projectId, c.projectId), eq(v.componentName, c.componentName), eq(v.componentVersionName, c.componentVersionName)))
    .where(and(eq(c.projectId, projectId), eq(c.bundleId, bundleId)))
    .orderBy(asc(c.position));
  return rows.map((r) => ({ ...r, deviceConfigSchema: JSON.parse(r.deviceConfigSchema) as DeviceConfigSchema }));
}
