import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { settings } from "@oclif/core";
import { register } from "tsx/esm/api";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { CLI_ROOT } from "../../../test/helpers.js";
import EnableVpp from "./vpp.js";

const opts = { root: CLI_ROOT };
// As in commands.test.ts: oclif loads the built CLI, whose sibling imports resolve to .ts sources.
settings.enableAutoTranspile = false;
register();

const MANIFESTS = ["sidecar-patch.yaml", "vcl-configmap.yaml", "vpp-daemonset.yaml"];

// Issue 14: `meshctl enable vpp` wrote ./meshctl-vpp/ into whatever directory the user stood in.
describe("meshctl enable vpp: where the manifests go", () => {
  let cwd: string;
  let state: string;
  let root: string;
  let out: string[];
  const originalCwd = process.cwd();
  const originalXdg = process.env.XDG_STATE_HOME;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "mc-enable-vpp-"));
    cwd = join(root, "cwd");
    state = join(root, "state");
    await mkdir(cwd);
    process.chdir(cwd);
    process.env.XDG_STATE_HOME = state;
    out = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    process.chdir(originalCwd);
    if (originalXdg === undefined) delete process.env.XDG_STATE_HOME;
    else process.env.XDG_STATE_HOME = originalXdg;
    await rm(root, { recursive: true, force: true });
  });

  test("without --out nothing appears in the cwd; --json lists the absolute paths", async () => {
    const r = await EnableVpp.run(["--no-host", "--json"], opts);
    expect(await readdir(cwd)).toEqual([]);
    const expected = join(state, "meshctl", "vpp");
    expect(r.outDir).toBe(expected);
    expect([...r.manifests].sort()).toEqual(MANIFESTS.map((m) => join(expected, m)));
    expect((await readdir(expected)).sort()).toEqual(MANIFESTS);
    const json = JSON.parse(out.join("")) as { outDir: string; manifests: string[] };
    expect(json.outDir).toBe(expected);
    for (const m of json.manifests) expect(isAbsolute(m)).toBe(true);
    expect(r.nextSteps[0]).toBe(`kubectl apply -f ${join(expected, "vpp-daemonset.yaml")}`);
  });

  test("the text output names the absolute directory and files", async () => {
    await EnableVpp.run(["--no-host"], opts);
    expect(await readdir(cwd)).toEqual([]);
    const text = out.join("");
    const expected = join(state, "meshctl", "vpp");
    expect(text).toContain(`Wrote 3 manifests to ${expected}:`);
    for (const m of MANIFESTS) expect(text).toContain(`  ${join(expected, m)}\n`);
  });

  test("--out DIR still chooses, and a relative DIR is printed absolute", async () => {
    const r = await EnableVpp.run(["--no-host", "--out", "k8s", "--json"], opts);
    expect(r.outDir).toBe(join(cwd, "k8s"));
    expect(await readdir(cwd)).toEqual(["k8s"]);
    expect(await readFile(join(cwd, "k8s", "vpp-daemonset.yaml"), "utf8")).toContain("kind: DaemonSet");
    await expect(readdir(state)).rejects.toMatchObject({ code: "ENOENT" });
  });

  test("--help explains the default directory", async () => {
    const help = EnableVpp.flags.out.description ?? "";
    expect(help).toContain("$XDG_STATE_HOME/meshctl/vpp");
    expect(EnableVpp.flags.out.default).toBeUndefined();
    expect(EnableVpp.description).toMatch(/never the current directory/);
  });
});
