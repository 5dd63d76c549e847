/**
 * Every Durable Object stub, by name: each object is named by the decimal id
 * of what it stands for (device, home, user, project), or is the one of its
 * kind (the supervisor), so the naming lives here once. A leaf: anything may
 * call any object without depending on the object's code. (Calling one for a
 * request, with its failures as 503: src/http/reach.ts.)
 */

type Stubs = Pick<Env, "DEVICE" | "HOME" | "USER" | "PROJECT_OUTLETS" | "SUPERVISOR" | "ROLLOUT">;

/** The device's live object: sockets, commands, key-values, presence (src/live/DeviceObject.ts). */
export const deviceObject = (env: Pick<Stubs, "DEVICE">, deviceId: number) => env.DEVICE.getByName(String(deviceId));

/** The home's hub: which users listen to its events now (src/live/HomeHub.ts). */
export const homeHub = (env: Pick<Stubs, "HOME">, homeId: number) => env.HOME.getByName(String(homeId));

/** The user's hub: their app sockets (src/live/UserHub.ts). */
export const userHub = (env: Pick<Stubs, "USER">, userId: number) => env.USER.getByName(String(userId));


/** The project's webhooks and their delivery log (src/outlets/webhooks/ProjectOutlets.ts). */
export const projectOutlets = (env: Pick<Stubs, "PROJECT_OUTLETS">, projectId: number) => env.PROJECT_OUTLETS.getByName(String(projectId));

/** The deployment's one supervisor (src/supervisor/Supervisor.ts). */
export const supervisor = (env: Pick<Stubs, "SUPERVISOR">) => env.SUPERVISOR.getByName("supervisor");

/** The object of one firmware rollout (src/rollouts/RolloutObject.ts), named by the rollout's decimal id. */
export const rolloutObject = (env: Pick<Stubs, "ROLLOUT">, rolloutId: number) => env.ROLLOUT.getByName(String(rolloutId));
