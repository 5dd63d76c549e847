/**
 * What the registry tells the live layer (Durable Objects) after it changes
 * something they depend on. Registry routes call these after their D1 write
 * has committed; the live layer decides what to close, forget or refresh.
 */

/** A device was erased (hard delete, or delete in an on-demand project): close its sockets, drop its state. */
export async function afterDeviceErased(_env: Env, _deviceId: number): Promise<void> {}

/** A device left a home or moved to another: its events now go to other listeners. */
export async function afterDeviceHomeChanged(_env: Env, _deviceId: number, _oldHomeId: number | null, _newHomeId: number | null): Promise<void> {}

/** A user's home memberships changed (added, removed, role changed, home deleted). */
export async function afterMembershipChanged(_env: Env, _userId: number): Promise<void> {}

/** A user session ended (logout): close the app sockets opened with it. */
export async function afterSessionEnded(_env: Env, _userId: number, _sessionDigest: string): Promise<void> {}
