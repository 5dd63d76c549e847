/**
 * The limits registry: one entry per limit, every var of one limit only, and
 * `limitOf` reading a var as the registry says (docs/limits.md is checked
 * against the registry by CI: `npm run limits:doc -- --check`).
 */
import { describe, expect, it } from "vitest";
import { LIMIT, REGISTRY } from "../../src/limits/registry";
import { limitOf } from "../../src/limits/table";

describe("the limits registry", () => {
  it("names each var once, and every value is a positive whole number", () => {
    const vars = Object.values(REGISTRY).flatMap((s) => ("var" in s ? [s.var] : []));
    expect(new Set(vars).size).toBe(vars.length);
    for (const [name, spec] of Object.entries(REGISTRY)) {
      expect(Number.isInteger(spec.value) && spec.value > 0, name).toBe(true);
      expect(LIMIT[name as keyof typeof LIMIT]).toBe(spec.value);
    }
  });

  it("a var changes its limit; 0 turns off only a limit that may be off; anything else keeps the value", () => {
    expect(limitOf({}, "deviceCommands")).toBe(REGISTRY.deviceCommands.value);
    expect(limitOf({ RATE_DEVICE_COMMANDS: "7" }, "deviceCommands")).toBe(7);
    expect(limitOf({ RATE_DEVICE_COMMANDS: "0" }, "deviceCommands")).toBe(0);
    expect(limitOf({ RATE_DEVICE_COMMANDS: "-1" }, "deviceCommands")).toBe(REGISTRY.deviceCommands.value);
    expect(limitOf({ RATE_DEVICE_COMMANDS: "ten" }, "deviceCommands")).toBe(REGISTRY.deviceCommands.value);
    // The lockout's length may not be 0: that would be no lockout at all, with the failures still counted.
    expect(limitOf({ LOGIN_LOCKOUT_MINUTES: "0" }, "loginLockoutMinutes")).toBe(REGISTRY.loginLockoutMinutes.value);
    expect(limitOf({ LOGIN_LOCKOUT_MINUTES: "5" }, "loginLockoutMinutes")).toBe(5);
  });
});
