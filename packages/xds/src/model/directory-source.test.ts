import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { waitFor } from "../testing/wait-for.js";
import { directoryMeshSource, MeshDirectoryLoader } from "./directory-source.js";
import type { MeshSourceEvent } from "./source.js";

const svc = (name: string, port = 7070) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: demo}\nspec:\n  ports: [{name: grpc, port: ${port}}]\n`;
const slice = (name: string, address: string) =>
  `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}-1, namespace: demo, labels: {kubernetes.io/service-name: ${name}}}\naddressType: IPv4\nports: [{name: grpc, port: 7070}]\nendpoints: [{addresses: ["${address}"]}]\n`;

describe("MeshDirectoryLoader", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "mcx-loader-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  test("a YAML syntax error keeps every object the file had, and reports file:line", async () => {
    const loader = new MeshDirectoryLoader(dir);
    await writeFile(join(dir, "a.yaml"), svc("a"));
    expect((await loader.scan()).snapshot.model.services.map((s) => s.name)).toEqual(["a"]);
    await writeFile(join(dir, "a.yaml"), `${svc("a")}    bad: [\n`);
    const { snapshot } = await loader.scan();
    expect(snapshot.model.services.map((s) => s.name)).toEqual(["a"]);
    expect(snapshot.rejectedFiles).toEqual(["a.yaml"]);
    expect(snapshot.diagnostics[0]).toMatchObject({ file: "a.yaml", severity: "error" });
  });

  test("last good is kept per object: an invalid object keeps its old version, its valid neighbours apply", async () => {
    const loader = new MeshDirectoryLoader(dir);
    await writeFile(join(dir, "m.yaml"), `${svc("a", 7070)}---\n${svc("b", 8080)}`);
    await loader.scan();
    // a becomes invalid (port out of range), b changes validly.
    await writeFile(join(dir, "m.yaml"), `${svc("a", 70000)}---\n${svc("b", 9090)}`);
    const { snapshot } = await loader.scan();
    const ports = Object.fromEntries(snapshot.model.services.map((s) => [s.name, s.ports[0]?.port]));
    expect(ports).toEqual({ a: 7070, b: 9090 });
    expect(snapshot.diagnostics.find((d) => d.severity === "error")).toMatchObject({
      file: "m.yaml",
      path: "spec.ports[0].port",
    });
  });

  test("an object removed from a readable file is removed; a duplicate in another file is rejected, the first keeps serving", async () => {
    const loader = new MeshDirectoryLoader(dir);
    await writeFile(join(dir, "a.yaml"), `${svc("a")}---\n${svc("b")}`);
    await loader.scan();
    await writeFile(join(dir, "a.yaml"), svc("a"));
    await writeFile(join(dir, "z.yaml"), svc("a", 9999));
    const { snapshot } = await loader.scan();
    expect(snapshot.model.services.map((s) => [s.name, s.ports[0]?.port])).toEqual([["a", 7070]]);
    expect(snapshot.rejectedFiles).toEqual(["z.yaml"]);
    expect(snapshot.diagnostics.find((d) => d.file === "z.yaml")?.reason).toMatch(
      /Service\/demo\/a is already defined in a\.yaml/,
    );
  });

  test("with requireStable, new content (and deletion) is applied only when two scans agree", async () => {
    const loader = new MeshDirectoryLoader(dir, { deleteGraceMs: 0 });
    await writeFile(join(dir, "a.yaml"), svc("a"));
    await loader.scan();
    await writeFile(join(dir, "a.yaml"), ""); // a writer that truncated and has not written yet
    const first = await loader.scan({ requireStable: true });
    expect(loader.unstable).toBe(true);
    expect(first.snapshot.model.services.map((s) => s.name)).toEqual(["a"]);
    await writeFile(join(dir, "a.yaml"), svc("b"));
    await loader.scan({ requireStable: true });
    expect(loader.unstable).toBe(true);
    const settled = await loader.scan({ requireStable: true });
    expect(loader.unstable).toBe(false);
    expect(settled.snapshot.model.services.map((s) => s.name)).toEqual(["b"]);
    await rm(join(dir, "a.yaml"));
    expect((await loader.scan({ requireStable: true })).snapshot.model.services).toHaveLength(1);
    expect((await loader.scan({ requireStable: true })).snapshot.model.services).toHaveLength(0);
  });

  test("a deleted file is deleted only once it stayed away for the grace period; back within it, nothing changed", async () => {
    const loader = new MeshDirectoryLoader(dir, { deleteGraceMs: 150, stateDir: false });
    const names = async () =>
      (await loader.scan({ requireStable: true })).snapshot.model.services.map((s) => s.name);
    await writeFile(join(dir, "a.yaml"), svc("a"));
    await writeFile(join(dir, "b.yaml"), svc("b"));
    await loader.scan();
    await rm(join(dir, "a.yaml"));
    expect(await names()).toEqual(["a", "b"]);
    expect(await names()).toEqual(["a", "b"]); // a second scan agrees, but the grace is not over
    expect(loader.unstable).toBe(true);
    await writeFile(join(dir, "a.yaml"), svc("a")); // restored within the grace
    await new Promise((r) => setTimeout(r, 200));
    const back = await loader.scan({ requireStable: true });
    expect(back.changed).toBe(false);
    expect(loader.unstable).toBe(false);
    await rm(join(dir, "b.yaml"));
    expect(await names()).toEqual(["a", "b"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(await names()).toEqual(["a"]);
  });
});

describe("directoryMeshSource events", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "mcx-source-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const write = async (name: string, text: string) => {
    await writeFile(join(dir, `.${name}.tmp`), text);
    await rename(join(dir, `.${name}.tmp`), join(dir, name));
  };

  test("says what changed: endpoints only, a definition, a new problem, its fix", async () => {
    await write("a.yaml", `${svc("a")}---\n${slice("a", "10.0.0.1")}`);
    const events: MeshSourceEvent[] = [];
    const source = directoryMeshSource(dir, { settleMs: 5, pollMs: 200 });
    await source.start((e) => events.push(e));
    try {
      await write("a.yaml", `${svc("a")}---\n${slice("a", "10.0.0.2")}`);
      await waitFor(() => events.length >= 1, { what: "endpoint change" });
      expect(events[0]).toMatchObject({
        type: "config-applied",
        change: {
          full: false,
          keys: [{ kind: "Endpoints", namespace: "demo", name: "a.demo.svc.cluster.local" }],
        },
      });
      await write("a.yaml", `${svc("a", 8080)}---\n${slice("a", "10.0.0.2")}`);
      await waitFor(() => events.length >= 2, { what: "definition change" });
      expect(events[1]).toMatchObject({
        type: "config-applied",
        change: { full: true, keys: [{ kind: "Service", namespace: "demo", name: "a" }] },
      });
      await write("a.yaml", `${svc("a", 8080)}---\n${slice("a", "not-an-ip")}`);
      await waitFor(() => events.length >= 3, { what: "new problem" });
      expect(events[2]).toMatchObject({ type: "diagnostics-changed" });
      expect(events[2]?.type === "diagnostics-changed" && events[2].newDiagnostics[0]?.path).toBe(
        "endpoints[0].addresses[0]",
      );
      await write("a.yaml", `${svc("a", 8080)}---\n${slice("a", "10.0.0.2")}`);
      await waitFor(() => events.length >= 4, { what: "fix" });
      // Restoring the good content changes no model: it resolves the problem, nothing is "rejected".
      expect(events[3]).toMatchObject({ type: "diagnostics-changed", newDiagnostics: [] });
      expect(events[3]?.type === "diagnostics-changed" && events[3].resolvedDiagnostics).toHaveLength(1);
    } finally {
      source.close();
    }
  });
});

describe("directoryMeshSource: delete and restore", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "mcx-restore-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  test("a file deleted and put back 150 ms later (after two settle periods) is never applied as a deletion", async () => {
    await writeFile(join(dir, "a.yaml"), `${svc("a")}---\n${slice("a", "10.0.0.1")}`);
    const events: MeshSourceEvent[] = [];
    const source = directoryMeshSource(dir, { settleMs: 40, pollMs: 60_000, stateDir: false });
    await source.start((e) => events.push(e));
    try {
      await rm(join(dir, "a.yaml"));
      await new Promise((r) => setTimeout(r, 150));
      await writeFile(join(dir, ".a.tmp"), `${svc("a")}---\n${slice("a", "10.0.0.1")}`);
      await rename(join(dir, ".a.tmp"), join(dir, "a.yaml"));
      await new Promise((r) => setTimeout(r, 600));
      expect(events.filter((e) => e.type === "config-applied")).toEqual([]);
      expect(source.current().model.services.map((s) => s.name)).toEqual(["a"]);
      // Gone for good: deleted after the grace period.
      await rm(join(dir, "a.yaml"));
      await waitFor(() => source.current().model.services.length === 0, { what: "the deletion" });
    } finally {
      source.close();
    }
  });
});

describe("atomic replacement", () => {
  test("a file replaced by a rename is accepted on the first scan; an in-place rewrite waits for a second", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mcx-atomic-"));
    try {
      const loader = new MeshDirectoryLoader(dir);
      await writeFile(join(dir, "a.yaml"), svc("a", 7070));
      await loader.scan();
      await writeFile(join(dir, ".a.tmp"), svc("a", 8080));
      await rename(join(dir, ".a.tmp"), join(dir, "a.yaml"));
      const renamed = await loader.scan({ requireStable: true });
      expect(renamed.snapshot.model.services[0]?.ports[0]?.port).toBe(8080);
      await writeFile(join(dir, "a.yaml"), svc("a", 9090));
      const inPlace = await loader.scan({ requireStable: true });
      expect(inPlace.snapshot.model.services[0]?.ports[0]?.port).toBe(8080);
      expect((await loader.scan({ requireStable: true })).snapshot.model.services[0]?.ports[0]?.port).toBe(
        9090,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
