import { DurableObject } from "cloudflare:workers";

/** One object per home: the app listeners of that home. (Being built: issue 3.) */
export class HomeHub extends DurableObject<Env> {}
