/**
 * Vitest globalSetup (runs in Node, where the pool prints workerd's log):
 * drops workerd's line for the object resets that a passing run causes on
 * purpose, so that what remains at error level means something is wrong.
 * The fault tests reset objects as a deploy would ("restart (test)"), and the
 * objects reset themselves to end connections they closed
 * (src/live/broadcast.ts); workerd reports each as an uncaught exception.
 */
const expected = [/broken\.outputGateBroken; jsg\.Error: restart \(test\)/, /broken\.outputGateBroken; jsg\.Error: reset to end the connections/];

function quiet(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    if (expected.some((line) => line.test(text))) return true;
    return write(chunk, ...rest);
  }) as NodeJS.WriteStream["write"];
}

export default function setup(): void {
  quiet(process.stdout);
  quiet(process.stderr);
}
