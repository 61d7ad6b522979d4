// Faults and bad input against the YAML directory source (issue 17): after each one, the last
// good model still serves, the source still answers, and memory stays bounded. Bounded in count
// and time: every fault completes in seconds (parse deadline 3 s here).
import { randomBytes } from "node:crypto";
import { mkdtemp, open, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { directoryMeshSource } from "../src/model/directory-source.js";
import type { MeshSnapshot, MeshSource, MeshSourceEvent } from "../src/model/source.js";
import { waitFor } from "../src/testing/wait-for.js";

const svc = (name: string, port = 7070) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: demo}\nspec:\n  ports: [{name: grpc, port: ${port}}]\n`;
const dr = (name: string) =>
  `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ${name}, namespace: demo}\nspec:\n  host: ${name}\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n`;
const GOOD_VICTIM = svc("victim", 7070);
const PARSE_TIMEOUT_MS = 3000;
const MB = 1024 * 1024;

/** Writes `size` bytes of `header` + repeated `line` in chunks, never holding the whole file. */
async function writeBig(
  path: string,
  header: string,
  line: (i: number) => string,
  size: number,
): Promise<number> {
  const fh = await open(path, "w");
  let written = 0;
  let i = 0;
  try {
    await fh.write(header);
    written += header.length;
    while (written < size) {
      const chunk: string[] = [];
      let n = 0;
      while (n < MB && written + n < size) {
        const l = line(i++);
        chunk.push(l);
        n += l.length;
      }
      await fh.write(chunk.join(""));
      written += n;
    }
  } finally {
    await fh.close();
  }
  return i;
}

const services = (s: MeshSnapshot) => s.model.services.map((x) => `${x.name}:${x.ports[0]?.port}`).sort();
const EXPECTED = ["echo:7070", "other:8080", "victim:7070"];

describe("directory source faults", () => {
  let dir: string;
  let source: MeshSource;
  const events: MeshSourceEvent[] = [];
  let baseline: NodeJS.MemoryUsage;

  const writeAtomic = async (name: string, data: string | Buffer) => {
    await writeFile(join(dir, `.${name}.tmp`), data);
    await rename(join(dir, `.${name}.tmp`), join(dir, name));
  };
  const errorsFor = (file: string) =>
    source.current().diagnostics.filter((d) => d.file === file && d.severity === "error");
  /** Waits until the fault shows as an error of `file`, then asserts the last good model and memory. */
  const expectSurvived = async (file: string, reason?: RegExp, { everGood = true } = {}) => {
    const [error] = await waitFor(() => (errorsFor(file).length > 0 ? errorsFor(file) : undefined), {
      what: `an error diagnostic for ${file}`,
      timeoutMs: 30_000,
    });
    if (reason) expect(error?.reason).toMatch(reason);
    const snap = source.current();
    expect(services(snap)).toEqual(EXPECTED);
    expect(snap.model.destinationRules.map((d) => d.name)).toEqual(["echo"]);
    // "Last good kept for" only where a last good version really serves.
    if (everGood) expect(snap.rejectedFiles).toContain(file);
    else expect(snap.rejectedFiles).not.toContain(file);
    const now = process.memoryUsage();
    // Loose bounds: a leak of a parsed 50 MB file (or a worker's heap) would be far over them.
    expect(now.heapUsed - baseline.heapUsed).toBeLessThan(150 * MB);
    expect(now.rss - baseline.rss).toBeLessThan(600 * MB);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mcx-faults-"));
    await writeAtomic("echo.yaml", `${svc("echo")}---\n${dr("echo")}`);
    await writeAtomic("other.yaml", svc("other", 8080));
    await writeAtomic("victim.yaml", GOOD_VICTIM);
    source = directoryMeshSource(dir, {
      settleMs: 5,
      pollMs: 100,
      parseTimeoutMs: PARSE_TIMEOUT_MS,
      parseMemoryMb: 512,
    });
    await source.start((e) => events.push(e));
    expect(services(source.current())).toEqual(EXPECTED);
    baseline = process.memoryUsage();
  });
  afterEach(async () => {
    // Every fault ends with the file restored: the fix is reported as a fix, never a rejection.
    const from = events.length;
    await rm(join(dir, "huge.yaml"), { force: true });
    await writeAtomic("victim.yaml", GOOD_VICTIM);
    await waitFor(
      () =>
        source.current().diagnostics.length === 0 &&
        services(source.current()).join() === EXPECTED.join() &&
        source.current().model.services.find((x) => x.name === "victim")?.source.file === "victim.yaml",
      { what: "restored", timeoutMs: 30_000 },
    );
    expect(source.current().rejectedFiles).toEqual([]);
    for (const e of events.slice(from)) expect(["config-applied", "diagnostics-changed"]).toContain(e.type);
  });
  afterAll(async () => {
    source?.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    await rm(`${dir}.away`, { recursive: true, force: true });
  });

  test("a truncated file (cut mid-document, written in place); its restore is a fix, not a rejection", async () => {
    await writeFile(join(dir, "victim.yaml"), GOOD_VICTIM.slice(0, 50));
    await expectSurvived("victim.yaml", /YAML syntax/);
    const from = events.length;
    await writeFile(join(dir, "victim.yaml"), GOOD_VICTIM);
    const fix = await waitFor(() => events.slice(from).find((e) => e.type !== "source-error"), {
      what: "fix",
    });
    expect(fix).toMatchObject({ type: "diagnostics-changed", newDiagnostics: [] });
    expect(fix.resolvedDiagnostics.length).toBeGreaterThan(0);
    expect(fix.snapshot.rejectedFiles).toEqual([]);
  });

  test("a file replaced by renames while it is being scanned", async () => {
    const until = Date.now() + 1000;
    for (let i = 0; Date.now() < until; i++) {
      await writeAtomic("victim.yaml", `${svc("victim", 7000 + (i % 50))}# ${"x".repeat(i % 7)}\n`);
      // Never a moment without the service, never an error.
      expect(source.current().model.services.some((s) => s.name === "victim")).toBe(true);
      expect(errorsFor("victim.yaml")).toEqual([]);
    }
    await writeAtomic("victim.yaml", svc("victim", 7777));
    await waitFor(() => services(source.current()).includes("victim:7777"), { what: "last write wins" });
  });

  test("the directory vanishes and comes back", async () => {
    const from = events.length;
    await rename(dir, `${dir}.away`);
    try {
      await waitFor(() => events.slice(from).some((e) => e.type === "source-error"), {
        what: "source-error",
      });
      await waitFor(() => source.current().diagnostics.some((d) => /does not exist/.test(d.reason)), {
        what: "directory diagnostic",
      });
      expect(services(source.current())).toEqual(EXPECTED);
    } finally {
      await rename(`${dir}.away`, dir);
    }
    await waitFor(() => source.current().diagnostics.length === 0, { what: "recovery" });
    expect(services(source.current())).toEqual(EXPECTED);
  });

  test("binary garbage", async () => {
    await writeAtomic("victim.yaml", randomBytes(64 * 1024));
    await expectSurvived("victim.yaml");
  });

  test("deeply nested YAML (100,000 `[`)", async () => {
    await writeAtomic("victim.yaml", `${svc("victim")}  extra: ${"[".repeat(100_000)}\n`);
    await expectSurvived("victim.yaml");
  });

  test("a YAML alias bomb (billion laughs) in a field meshctl reads", async () => {
    let bomb = "x-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
    for (let i = 1; i < 10; i++)
      bomb += `x-${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(", ")}]\n`;
    await writeAtomic(
      "victim.yaml",
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: victim\n  namespace: demo\n  annotations:\n${bomb.replace(/^/gm, "    ")}  labels: *a9\nspec:\n  ports: [{name: grpc, port: 7070}]\n`,
    );
    await expectSurvived("victim.yaml");
  });

  test("a 50 MB EndpointSlice (~670,000 endpoints) over the size limit is refused from its size", async () => {
    const started = performance.now();
    const endpoints = await writeBig(
      join(dir, "huge.yaml"),
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: victim-1, namespace: demo, labels: {kubernetes.io/service-name: victim}}\naddressType: IPv4\nports: [{name: grpc, port: 7070}]\nendpoints:\n",
      (i) =>
        `- addresses: ["10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}"]\n  conditions: {ready: true}\n`,
      50 * MB,
    );
    expect(endpoints).toBeGreaterThan(600_000);
    await expectSurvived("huge.yaml", /huge\.yaml is 50\.0 MiB, over the 4\.0 MiB limit/, {
      everGood: false,
    });
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  test("a 50 MB ConfigMap is refused from its size; with the limit raised, skipped unparsed while the thread keeps ticking", async () => {
    const configMap = (path: string) =>
      writeBig(
        path,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big, namespace: demo}\ndata:\n",
        (i) => `  key-${i}: "${"v".repeat(60)}"\n`,
        50 * MB,
      );
    await configMap(join(dir, "huge.yaml"));
    await expectSurvived("huge.yaml", /over the 4\.0 MiB limit/, { everGood: false });
    await rm(join(dir, "huge.yaml"));

    // A second source on another directory, with a limit that lets the file through to the worker.
    const other = await mkdtemp(join(tmpdir(), "mcx-faults-cm-"));
    const raised = directoryMeshSource(other, { settleMs: 5, pollMs: 100, maxFileBytes: 64 * MB });
    try {
      await writeFile(join(other, "svc.yaml"), svc("a"));
      await raised.start(() => {});
      await configMap(join(other, ".cm.tmp"));
      await rename(join(other, ".cm.tmp"), join(other, "cm.yaml"));
      await waitFor(
        () => raised.current().diagnostics.find((d) => d.file === "cm.yaml" && /ConfigMap/.test(d.reason)),
        { what: "ConfigMap skipped", timeoutMs: 30_000 },
      );
      expect(raised.current().diagnostics.map((d) => [d.file, d.severity, d.reason])).toEqual([
        ["cm.yaml", "warning", "unsupported kind ConfigMap (v1); skipped"],
      ]);
      expect(raised.current().model.services.map((s) => s.name)).toEqual(["a"]);
    } finally {
      raised.close();
      await rm(other, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });

  test("a 50 MB EndpointSlice let through by a raised limit: the parse deadline stops it, the thread keeps ticking", async () => {
    const other = await mkdtemp(join(tmpdir(), "mcx-faults-eps-"));
    const raised = directoryMeshSource(other, {
      settleMs: 5,
      pollMs: 100,
      maxFileBytes: 64 * MB,
      parseTimeoutMs: PARSE_TIMEOUT_MS,
      parseMemoryMb: 512,
    });
    try {
      await writeFile(join(other, "svc.yaml"), svc("victim"));
      await raised.start(() => {});
      // Timers keep firing while the worker parses (a parse on this thread would stop them).
      let ticks = 0;
      const tick = setInterval(() => {
        ticks++;
      }, 10);
      try {
        await writeBig(
          join(other, ".eps.tmp"),
          "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: victim-1, namespace: demo, labels: {kubernetes.io/service-name: victim}}\naddressType: IPv4\nports: [{name: grpc, port: 7070}]\nendpoints:\n",
          (i) =>
            `- addresses: ["10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}"]\n  conditions: {ready: true}\n`,
          50 * MB,
        );
        await rename(join(other, ".eps.tmp"), join(other, "eps.yaml"));
        const error = await waitFor(
          () => raised.current().diagnostics.find((d) => d.file === "eps.yaml" && d.severity === "error"),
          { what: "deadline or memory limit", timeoutMs: 60_000 },
        );
        expect(error.reason).toMatch(/eps\.yaml: parsing (took longer than 3000 ms|needed more than 512 MB)/);
      } finally {
        clearInterval(tick);
      }
      expect(raised.current().model.services.map((s) => s.name)).toEqual(["victim"]);
      expect(ticks).toBeGreaterThan(20);
      const now = process.memoryUsage();
      expect(now.heapUsed - baseline.heapUsed).toBeLessThan(150 * MB);
    } finally {
      raised.close();
      await rm(other, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });

  test("close() ends a parse in flight at once", async () => {
    const other = await mkdtemp(join(tmpdir(), "mcx-faults-close-"));
    const raised = directoryMeshSource(other, { settleMs: 5, pollMs: 100, maxFileBytes: 64 * MB });
    try {
      await writeFile(join(other, "svc.yaml"), svc("victim"));
      await raised.start(() => {});
      await writeBig(
        join(other, ".eps.tmp"),
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: v-1, namespace: demo, labels: {kubernetes.io/service-name: victim}}\naddressType: IPv4\nports: [{name: grpc, port: 7070}]\nendpoints:\n",
        (i) => `- addresses: ["10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}"]\n`,
        20 * MB,
      );
      await rename(join(other, ".eps.tmp"), join(other, "eps.yaml"));
      await new Promise((r) => setTimeout(r, 1000)); // the worker is busy with it now
      const before = process.memoryUsage().rss;
      raised.close();
      expect(raised.current().model.services.map((s) => s.name)).toEqual(["victim"]);
      // The worker's heap goes with it: RSS falls back rather than growing for the whole parse.
      await waitFor(() => process.memoryUsage().rss <= before, {
        what: "worker memory returned",
        timeoutMs: 5000,
      });
    } finally {
      await rm(other, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    }
  });
});
