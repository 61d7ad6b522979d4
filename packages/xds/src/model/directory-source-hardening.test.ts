import { execFile } from "node:child_process";
import { chmod, mkdtemp, readdir, rename, rm, utimes, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { waitFor } from "../testing/wait-for.js";
import { DEFAULT_STATE_DIR_NAME, directoryMeshSource, MeshDirectoryLoader } from "./directory-source.js";
import type { MeshSnapshot, MeshSource, MeshSourceEvent } from "./source.js";

const svc = (name: string, port = 7070) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: demo}\nspec:\n  ports: [{name: grpc, port: ${port}}]\n`;
const dr = (name: string, lb: string) =>
  `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ${name}, namespace: demo}\nspec:\n  host: ${name}\n  trafficPolicy: {loadBalancer: {simple: ${lb}}}\n`;
const ports = (s: MeshSnapshot) =>
  Object.fromEntries(s.model.services.map((x) => [x.name, x.ports[0]?.port]));
const lbOf = (s: MeshSnapshot, name: string) =>
  s.model.destinationRules.find((d) => d.name === name)?.trafficPolicy?.loadBalancer;

let dir: string;
const sources: MeshSource[] = [];
const loaders: MeshDirectoryLoader[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "mcx-harden-"));
});
afterEach(async () => {
  for (const s of sources.splice(0)) s.close();
  for (const l of loaders.splice(0)) l.close();
  // A closed source may still be writing its last-good state: retry on ENOTEMPTY.
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});
const loaderOf = (opts: ConstructorParameters<typeof MeshDirectoryLoader>[1] = {}) => {
  const loader = new MeshDirectoryLoader(dir, opts);
  loaders.push(loader);
  return loader;
};
const sourceOf = (opts: Parameters<typeof directoryMeshSource>[1] = {}) => {
  const source = directoryMeshSource(dir, { settleMs: 5, pollMs: 100, ...opts });
  sources.push(source);
  return source;
};
const write = async (name: string, text: string) => {
  await writeFile(join(dir, `.${name}.tmp`), text);
  await rename(join(dir, `.${name}.tmp`), join(dir, name));
};

describe("per-file size limit", () => {
  test("a file over maxFileBytes is refused with its name, size and the limit; its last good version keeps serving", async () => {
    const loader = loaderOf({ maxFileBytes: 4096 });
    await write("a.yaml", svc("a"));
    await loader.scan();
    await write("a.yaml", `${svc("a", 8080)}# ${"x".repeat(8000)}\n`);
    const { snapshot } = await loader.scan();
    expect(ports(snapshot)).toEqual({ a: 7070 });
    expect(snapshot.rejectedFiles).toEqual(["a.yaml"]);
    const d = snapshot.diagnostics.find((x) => x.severity === "error");
    expect(d?.file).toBe("a.yaml");
    expect(d?.reason).toMatch(/a\.yaml is 7\.9 KiB, over the 4\.0 KiB limit/);
    expect(d?.reason).toMatch(/--max-file-size/);
  });

  test("the default limit (4 MiB) refuses a 5 MiB file; a file that was never good is not reported as 'last good kept'", async () => {
    const loader = loaderOf();
    await writeFile(join(dir, "huge.yaml"), Buffer.alloc(5 * 1024 * 1024, "#"));
    const { snapshot } = await loader.scan();
    expect(snapshot.diagnostics[0]?.reason).toMatch(/huge\.yaml is 5\.0 MiB, over the 4\.0 MiB limit/);
    expect(snapshot.rejectedFiles).toEqual([]);
  });
});

describe("documents meshctl does not read", () => {
  test("ConfigMap, Secret and empty documents are skipped with a warning (no error), the rest applies", async () => {
    const loader = loaderOf();
    await write(
      "all.yaml",
      `# Source: chart/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n# Source: chart/templates/empty.yaml\n---\n${svc("a")}---\n`,
    );
    const { snapshot } = await loader.scan();
    expect(ports(snapshot)).toEqual({ a: 7070 });
    expect(snapshot.rejectedFiles).toEqual([]);
    expect(snapshot.diagnostics.map((d) => [d.severity, d.line, d.reason])).toEqual([
      ["warning", 3, "unsupported kind ConfigMap (v1); skipped"],
      ["warning", 8, "unsupported kind Secret (v1); skipped"],
    ]);
  });
});

describe("an unreadable config directory", () => {
  test("ends in XDS_CONFIG_DIR_UNREADABLE (an environment error), never a stack trace", async () => {
    // Root reads everything: the check runs as nobody, in a child process.
    const scripts = await mkdtemp(join(tmpdir(), "mcx-harden-script-"));
    try {
      await chmod(scripts, 0o755);
      await write("a.yaml", svc("a"));
      await chmod(dir, 0o000);
      const module = pathToFileURL(fileURLToPath(new URL("./directory-source.ts", import.meta.url))).href;
      const script = join(scripts, "check.mjs");
      await writeFile(
        script,
        `const { directoryMeshSource } = await import(${JSON.stringify(module)});\n` +
          `try { await directoryMeshSource(${JSON.stringify(dir)}).start(() => {}); console.log(JSON.stringify({ ok: true })); }\n` +
          `catch (e) { console.log(JSON.stringify({ name: e.constructor.name, code: e.code, kind: e.kind, message: e.message, suggestions: e.suggestions })); }\n`,
      );
      await chmod(script, 0o644);
      const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
      const { stdout } = await promisify(execFile)(
        "setpriv",
        [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          process.execPath,
          "--conditions=@meshctl/source",
          "--import",
          tsx,
          script,
        ],
        { env: { ...process.env, HOME: scripts, TSX_TSCONFIG_PATH: "" }, cwd: scripts, timeout: 60_000 },
      );
      const result = JSON.parse(stdout.trim().split("\n").pop() ?? "{}");
      expect(result).toMatchObject({
        name: "MeshctlError",
        code: "XDS_CONFIG_DIR_UNREADABLE",
        kind: "environment",
      });
      expect(result.message).toBe(`The mesh config directory ${dir} cannot be read: EACCES.`);
      expect(result.suggestions[0]).toMatch(/uid 65534.*chmod a\+rx/);
    } finally {
      await chmod(dir, 0o755);
      await rm(scripts, { recursive: true, force: true });
    }
  });

  test("a missing directory is a usage error, and is not created (not even for the state directory)", async () => {
    const missing = join(dir, "nope");
    await expect(directoryMeshSource(missing).start(() => {})).rejects.toMatchObject({
      code: "XDS_CONFIG_DIR_MISSING",
      kind: "usage",
    });
    expect(await readdir(dir)).toEqual([]);
  });

  test("a directory that vanishes while watched: a source-error and a diagnostic, last good kept, recovery when it returns", async () => {
    await write("a.yaml", svc("a"));
    const events: MeshSourceEvent[] = [];
    const source = sourceOf();
    await source.start((e) => events.push(e));
    const away = `${dir}.away`;
    await rename(dir, away);
    try {
      await waitFor(() => events.some((e) => e.type === "source-error"), { what: "source-error" });
      const lost = await waitFor(
        () => events.find((e) => e.type === "diagnostics-changed" && e.newDiagnostics.length > 0),
        { what: "diagnostic" },
      );
      expect(lost?.type === "diagnostics-changed" && lost.newDiagnostics[0]?.reason).toMatch(
        /does not exist/,
      );
      expect(ports(source.current())).toEqual({ a: 7070 });
      // Reported once, not at every poll.
      await new Promise((r) => setTimeout(r, 300));
      expect(events.filter((e) => e.type === "source-error")).toHaveLength(1);
    } finally {
      await rename(away, dir);
    }
    await waitFor(() => source.current().diagnostics.length === 0, { what: "recovery" }).catch((e) => {
      throw new Error(`${e}: ${JSON.stringify(source.current().diagnostics)}`);
    });
    // The watch is back: a change applies.
    await write("a.yaml", svc("a", 8080));
    await waitFor(() => ports(source.current()).a === 8080, { what: "change after recovery" });
    expect(events.some((e) => e.type === "config-applied")).toBe(true);
  });
});

describe("duplicates: the object already serving wins", () => {
  const echo = `${svc("echo")}---\n${dr("echo", "ROUND_ROBIN")}`;
  const newcomer = `${svc("echo", 9999)}---\n${dr("echo", "RANDOM")}`;

  test("a live add of a file sorting first is rejected, naming the new file and the existing one", async () => {
    await write("echo.yaml", echo);
    const source = sourceOf();
    await source.start(() => {});
    await write("a-dup.yaml", newcomer);
    await waitFor(() => source.current().rejectedFiles.includes("a-dup.yaml"), { what: "rejection" });
    const snap = source.current();
    expect(ports(snap)).toEqual({ echo: 7070 });
    expect(lbOf(snap, "echo")).toMatchObject({ kind: "ROUND_ROBIN" });
    expect(snap.diagnostics.filter((d) => d.severity === "error").map((d) => [d.file, d.reason])).toEqual([
      [
        "a-dup.yaml",
        "Service/demo/echo is already defined in echo.yaml, which keeps serving it; this definition in a-dup.yaml is ignored",
      ],
      [
        "a-dup.yaml",
        "DestinationRule/demo/echo is already defined in echo.yaml, which keeps serving it; this definition in a-dup.yaml is ignored",
      ],
    ]);
  });

  test("at a (re)start with both files present, the older file wins, then the name: deterministic", async () => {
    await write("echo.yaml", echo);
    await write("a-dup.yaml", newcomer);
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, "echo.yaml"), old, old);
    const first = await loaderOf().scan();
    expect(ports(first.snapshot)).toEqual({ echo: 7070 });
    expect(first.snapshot.rejectedFiles).toEqual(["a-dup.yaml"]);
    // Same mtime: the name decides.
    await utimes(join(dir, "a-dup.yaml"), old, old);
    const tie = await loaderOf({ stateDir: false }).scan();
    expect(ports(tie.snapshot)).toEqual({ echo: 9999 });
    expect(tie.snapshot.rejectedFiles).toEqual(["echo.yaml"]);
  });
});

describe("moving an object to another file never loses it", () => {
  const echo = `${svc("echo")}---\n${dr("echo", "RANDOM")}`;
  const errors = (snap: MeshSnapshot) => snap.diagnostics.filter((d) => d.severity === "error");

  test("a delete and an add of the same objects in one scan: the new file serves them", async () => {
    await write("echo.yaml", echo);
    const loader = loaderOf({ stateDir: false });
    expect(ports((await loader.scan()).snapshot)).toEqual({ echo: 7070 });
    await write("zz-moved.yaml", echo);
    await rm(join(dir, "echo.yaml"));
    const after = (await loader.scan()).snapshot;
    expect(ports(after)).toEqual({ echo: 7070 });
    expect(lbOf(after, "echo")).toMatchObject({ kind: "RANDOM" });
    expect(errors(after)).toEqual([]);
    expect(after.rejectedFiles).toEqual([]);
  });

  test("mv a.yaml b.yaml while the source watches: served throughout, and no error afterwards", async () => {
    await write("a.yaml", echo);
    const source = sourceOf({ stateDir: false });
    await source.start(() => {});
    await rename(join(dir, "a.yaml"), join(dir, "b.yaml"));
    await waitFor(
      () => source.current().rejectedFiles.length === 0 && errors(source.current()).length === 0,
      {
        what: "the move settles",
      },
    );
    // Two more polls: a late deletion of a.yaml must not take the objects with it.
    await new Promise((r) => setTimeout(r, 300));
    expect(ports(source.current())).toEqual({ echo: 7070 });
    expect(errors(source.current())).toEqual([]);
  });
});

describe("confirming a read", () => {
  test("a new file is confirmed by the next settle, not by the poll", async () => {
    await write("a.yaml", svc("a"));
    const source = sourceOf({ stateDir: false, pollMs: 60_000 });
    await source.start(() => {});
    // A new file renamed into place: one watcher event; its content is confirmed by a second
    // read one settle later, which no further event asks for.
    await writeFile(join(dir, ".b.tmp"), svc("b", 8080));
    await rename(join(dir, ".b.tmp"), join(dir, "b.yaml"));
    await waitFor(() => ports(source.current()).b === 8080, { what: "b applies", timeoutMs: 10_000 });
    // A deletion is confirmed the same way: gone within the settle, not at the next poll.
    await rm(join(dir, "b.yaml"));
    await waitFor(() => ports(source.current()).b === undefined, { what: "b removed", timeoutMs: 10_000 });
    expect(ports(source.current())).toEqual({ a: 7070 });
  });
});

describe("last good survives a restart", () => {
  test("a file broken while the source was down serves its last good objects after the restart", async () => {
    await write("a.yaml", `${svc("a")}---\n${svc("b", 8080)}`);
    const before = loaderOf();
    await before.scan();
    await before.flushState();
    before.close();
    expect(
      (await readdir(join(dir, DEFAULT_STATE_DIR_NAME))).filter((n) => n.endsWith(".last-good")),
    ).toHaveLength(1);
    // The bad edit happens while nobody watches.
    await write("a.yaml", `${svc("a")}---\n${svc("b", 8080)}    broken: [\n`);
    const events: MeshSourceEvent[] = [];
    const source = sourceOf();
    const snap = await source.start((e) => events.push(e));
    expect(ports(snap)).toEqual({ a: 7070, b: 8080 });
    expect(snap.rejectedFiles).toEqual(["a.yaml"]);
    expect(snap.diagnostics[0]).toMatchObject({ file: "a.yaml", severity: "error" });
    // An invalid object, by contrast, keeps its restored version while its neighbour changes.
    await write("a.yaml", `${svc("a", 70000)}---\n${svc("b", 9090)}`);
    await waitFor(() => ports(source.current()).b === 9090, { what: "neighbour applies" });
    expect(ports(source.current())).toEqual({ a: 7070, b: 9090 });
    expect(source.current().rejectedFiles).toEqual(["a.yaml"]);
  });

  test("without a state directory nothing is restored, and nothing claims to be kept", async () => {
    await write("a.yaml", svc("a"));
    const before = loaderOf({ stateDir: false });
    await before.scan();
    await write("a.yaml", `${svc("a")}    broken: [\n`);
    const after = await loaderOf({ stateDir: false }).scan();
    expect(after.snapshot.model.services).toEqual([]);
    expect(after.snapshot.rejectedFiles).toEqual([]);
    expect(after.snapshot.diagnostics[0]).toMatchObject({ file: "a.yaml", severity: "error" });
  });

  test("a state directory that cannot be written gives a warning, and serving goes on", async () => {
    await write("a.yaml", svc("a"));
    await writeFile(join(dir, "not-a-dir"), "");
    const { snapshot } = await loaderOf({ stateDir: join(dir, "not-a-dir", "state") }).scan();
    expect(ports(snapshot)).toEqual({ a: 7070 });
    expect(snapshot.diagnostics).toEqual([
      expect.objectContaining({
        severity: "warning",
        reason: expect.stringMatching(
          /cannot be kept across restarts: .*not-a-dir\/state is not writable \(ENOTDIR\).*--state-dir/,
        ),
      }),
    ]);
  });
});

describe("the serving thread", () => {
  // A parse on the serving thread would block it until the parse ends: no timer could fire.
  // A 20 MB EndpointSlice parses for as long as the deadline allows (1.5 s here), in the worker.
  test("keeps running timers while a file parses until its deadline", async () => {
    await write("a.yaml", svc("a"));
    const source = sourceOf({ pollMs: 60_000, parseTimeoutMs: 1500, maxFileBytes: 64 * 1024 * 1024 });
    await source.start(() => {});
    const lines = [
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: big-1, namespace: demo, labels: {kubernetes.io/service-name: a}}\naddressType: IPv4\nports: [{name: grpc, port: 7070}]\nendpoints:\n",
    ];
    for (let i = 0; i < 400_000; i++)
      lines.push(
        `- addresses: ["10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}"]\n  conditions: {ready: true}\n`,
      );
    await writeFile(join(dir, ".big.tmp"), lines.join(""));
    let ticks = 0;
    const tick = setInterval(() => {
      ticks++;
    }, 10);
    try {
      await rename(join(dir, ".big.tmp"), join(dir, "big.yaml"));
      const error = await waitFor(
        () => source.current().diagnostics.find((d) => d.file === "big.yaml" && d.severity === "error"),
        { what: "the deadline refuses the file", timeoutMs: 60_000 },
      );
      expect(error.reason).toMatch(/big\.yaml: parsing took longer than 1500 ms/);
    } finally {
      clearInterval(tick);
    }
    expect(ports(source.current())).toEqual({ a: 7070 });
    // 1.5 s of parsing at one tick per 10 ms: far more than 20 on any machine, about none if blocked.
    expect(ticks).toBeGreaterThan(20);
  });
});
