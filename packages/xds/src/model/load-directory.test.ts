import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { MeshDirectoryLoader } from "./load-directory.js";

const svc = (name: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: demo}\nspec:\n  ports: [{name: grpc, port: 7070}]\n`;

describe("MeshDirectoryLoader", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "mcx-loader-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  test("an invalid edit keeps the file's last good version and reports it", async () => {
    const loader = new MeshDirectoryLoader(dir);
    await writeFile(join(dir, "a.yaml"), svc("a"));
    expect((await loader.scan()).model.services.map((s) => s.name)).toEqual(["a"]);
    await writeFile(join(dir, "a.yaml"), `${svc("a")}    bad: [\n`);
    const snap = await loader.scan();
    expect(snap.model.services.map((s) => s.name)).toEqual(["a"]);
    expect(snap.rejectedFiles).toEqual(["a.yaml"]);
    expect(snap.diagnostics[0]).toMatchObject({ file: "a.yaml", severity: "error" });
  });

  test("with requireStable, new content (and deletion) is applied only when two scans agree", async () => {
    const loader = new MeshDirectoryLoader(dir);
    await writeFile(join(dir, "a.yaml"), svc("a"));
    await loader.scan();
    await writeFile(join(dir, "a.yaml"), ""); // a writer that truncated and has not written yet
    const first = await loader.scan({ requireStable: true });
    expect(loader.unstable).toBe(true);
    expect(first.model.services.map((s) => s.name)).toEqual(["a"]);
    await writeFile(join(dir, "a.yaml"), svc("b"));
    await loader.scan({ requireStable: true });
    expect(loader.unstable).toBe(true);
    const settled = await loader.scan({ requireStable: true });
    expect(loader.unstable).toBe(false);
    expect(settled.model.services.map((s) => s.name)).toEqual(["b"]);
    await rm(join(dir, "a.yaml"));
    expect((await loader.scan({ requireStable: true })).model.services).toHaveLength(1);
    expect((await loader.scan({ requireStable: true })).model.services).toHaveLength(0);
  });
});
