import { describe, expect, test } from "vitest";
import { isMeshctlError } from "./errors.js";
import { ExternalCommandError, findProgram, runCommand, runJson } from "./exec.js";

describe("runCommand", () => {
  test("captures stdout of a real program", async () => {
    const result = await runCommand("sh", ["-c", "echo hello"]);
    expect(result.stdout).toBe("hello");
    expect(result.exitCode).toBe(0);
  });

  test("a failing program becomes an ExternalCommandError with stderr and exit code", async () => {
    const error = await runCommand("sh", ["-c", "echo boom >&2; exit 3"]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExternalCommandError);
    const ext = error as ExternalCommandError;
    expect(ext.code).toBe("EXTERNAL_COMMAND_FAILED");
    expect(ext.exitCode_).toBe(3);
    expect(ext.stderr).toContain("boom");
    expect(isMeshctlError(ext)).toBe(true);
  });

  test("a missing program says so", async () => {
    const error = (await runCommand("meshctl-no-such-program", []).catch(
      (e: unknown) => e,
    )) as ExternalCommandError;
    expect(error.code).toBe("EXTERNAL_PROGRAM_MISSING");
  });

  test("timeouts kill the program", async () => {
    const error = (await runCommand("sleep", ["5"], { timeoutMs: 100 }).catch(
      (e: unknown) => e,
    )) as ExternalCommandError;
    expect(error.timedOut).toBe(true);
  });

  test("reject: false returns the exit code", async () => {
    const result = await runCommand("sh", ["-c", "exit 7"], { reject: false });
    expect(result.exitCode).toBe(7);
  });

  test("runJson parses JSON output and rejects other text", async () => {
    expect(await runJson<{ a: number }>("sh", ["-c", "echo '{\"a\":1}'"])).toEqual({ a: 1 });
    await expect(runJson("sh", ["-c", "echo nope"])).rejects.toThrow(/not JSON/);
  });

  test("findProgram finds sh and not nonsense", async () => {
    expect(await findProgram("sh")).toMatch(/\/sh$/);
    expect(await findProgram("meshctl-no-such-program")).toBeUndefined();
  });
});
