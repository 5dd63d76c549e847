import { and, eq } from "drizzle-orm";
import { db } from "../db/client";
import { deviceClasses } from "../db/schema";
import { invalidInput } from "../http/errors";

/** A device's class must be one of its project's classes: 400 naming `deviceClass` otherwise. */
export async function requireDeviceClass(env: Env, projectId: number, deviceClass: string): Promise<void> {
  const found = await db(env).query.deviceClasses.findFirst({
    columns: { id: true },
    where: and(eq(deviceClasses.projectId, projectId), eq(deviceClasses.id, deviceClass)),
  });
  if (!found) throw invalidInput({ deviceClass: `unknown device class of project ${projectId}` });
}
