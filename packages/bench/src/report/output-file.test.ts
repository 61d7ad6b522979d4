import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { checkReportPath, writeReportFile } from "./output-file.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mcb-out-"));
  await writeFile(join(dir, "a-file"), "x");
  await mkdir(join(dir, "sub"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("checkReportPath (before the run)", () => {
  test("a new file in an existing directory, or an existing file, is fine", async () => {
    await expect(checkReportPath(join(dir, "report.html"), "html")).resolves.toBeUndefined();
    await expect(checkReportPath(join(dir, "a-file"), "html")).resolves.toBeUndefined();
  });

  test("a missing directory: usage error naming the flag, the path and the reason", async () => {
    const path = join(dir, "missing", "report.html");
    await expect(checkReportPath(path, "html")).rejects.toMatchObject({
      code: "BENCH_OUTPUT_UNWRITABLE",
      kind: "usage",
      message: `--html ${path} cannot be written: the directory ${join(dir, "missing")} does not exist.`,
      details: { flag: "html", path },
    });
  });

  test("a directory, or a path through a file", async () => {
    await expect(checkReportPath(join(dir, "sub"), "fortio-json")).rejects.toMatchObject({
      code: "BENCH_OUTPUT_UNWRITABLE",
      message: expect.stringMatching(/^--fortio-json .*sub cannot be written: it is a directory\.$/),
    });
    await expect(checkReportPath(join(dir, "a-file", "r.html"), "html")).rejects.toMatchObject({
      code: "BENCH_OUTPUT_UNWRITABLE",
      message: expect.stringMatching(/not a directory/),
    });
  });

  test("creates nothing", async () => {
    await checkReportPath(join(dir, "never.html"), "html");
    await expect(readFile(join(dir, "never.html"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("writeReportFile (after the run)", () => {
  test("writes, and maps an OS error to a usage error with the reason", async () => {
    await writeReportFile(join(dir, "ok.html"), "<html>", "html");
    expect(await readFile(join(dir, "ok.html"), "utf8")).toBe("<html>");
    // The directory went away during the run.
    const gone = join(dir, "gone", "r.html");
    await expect(writeReportFile(gone, "x", "html")).rejects.toMatchObject({
      code: "BENCH_OUTPUT_UNWRITABLE",
      kind: "usage",
      message: `--html ${gone} cannot be written: no such file or directory (ENOENT).`,
    });
    await expect(writeReportFile(join(dir, "sub"), "x", "html")).rejects.toMatchObject({
      message: expect.stringMatching(/is a directory \(EISDIR\)/),
    });
  });
});
