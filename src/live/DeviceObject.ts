import { DurableObject } from "cloudflare:workers";

/** One object per device: its sockets, commands, key-values and presence. (Being built: issue 3.) */
export class DeviceObject extends DurableObject<Env> {}
