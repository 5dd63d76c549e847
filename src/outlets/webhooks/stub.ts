/** The project's outlets object, by name (the decimal project id), as src/live/stubs.ts does for the others. */
export const projectOutlets = (env: Pick<Env, "PROJECT_OUTLETS">, projectId: number) => env.PROJECT_OUTLETS.getByName(String(projectId));
