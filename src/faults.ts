/**
 * Fault points: named places on the failure paths (an object call behind a
 * registry change, a hub telling a device) where the fault-injection tests
 * make the next calls fail, to show that the change still arrives. Nothing
 * arms them outside those tests, and an unarmed point costs one Map lookup.
 *
 * Module state: the tests run in the same isolate as the worker and its
 * objects (the vitest plugin), so arming here arms the code under test.
 */

const armed = new Map<string, number>();

/** The next `times` passes through `point` throw (Infinity: until `clearFaults`). */
export function injectFault(point: string, times: number): void {
  armed.set(point, times);
}

export function clearFaults(): void {
  armed.clear();
}

/** Throws when the point is armed. */
export function faultPoint(point: string): void {
  const left = armed.get(point);
  if (left === undefined) return;
  if (left <= 1) armed.delete(point);
  else armed.set(point, left - 1);
  throw new Error(`injected fault at ${point}`);
}
