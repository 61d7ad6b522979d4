import { afterEach, describe, expect, test } from "vitest";
import { MeshParseWorker, parseWorkerHeapBytes, resolveParseWorkerEntry } from "./mesh-parse-worker.js";

const svc = (name: string, port = 7070) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: demo}\nspec:\n  ports: [{name: grpc, port: ${port}}]\n`;
/** An EndpointSlice of about `bytes` bytes: a legitimate file that takes the parser a while. */
const bigSlice = (bytes: number) => {
  const lines = [
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: big-1, namespace: demo, labels: {kubernetes.io/service-name: big}}\naddressType: IPv4\nports: [{name: grpc, port: 7070}]\nendpoints:\n",
  ];
  let size = lines[0]?.length ?? 0;
  for (let i = 0; size < bytes; i++) {
    const line = `- addresses: ["10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}"]\n`;
    lines.push(line);
    size += line.length;
  }
  return lines.join("");
};

describe("MeshParseWorker", () => {
  let parser: MeshParseWorker | undefined;
  afterEach(() => parser?.close());

  test("the worker entry resolves from the sources", () => {
    expect(resolveParseWorkerEntry()).toMatch(/parse-worker\.(ts|js)$/);
  });

  test("the worker's heap is reported while it runs and forgotten when it ends", async () => {
    parser = new MeshParseWorker({ timeoutMs: 30_000, memoryMb: 256 });
    const before = parseWorkerHeapBytes();
    await parser.parse([{ file: "a.yaml", text: svc("a") }]);
    // A V8 isolate commits at least a few MiB; the parent's process.memoryUsage() shows none of it.
    expect(parseWorkerHeapBytes() - before).toBeGreaterThan(1024 * 1024);
    parser.close();
    await expect.poll(() => parseWorkerHeapBytes(), { timeout: 5000 }).toBe(before);
  });

  test("a worker whose heap grew past recycleHeapGrowthMb is replaced after its job", async () => {
    // Under steady churn the worker never idles: without this, what its heap grew stays.
    parser = new MeshParseWorker({ timeoutMs: 30_000, memoryMb: 256, recycleHeapGrowthMb: 4 });
    await parser.parse([{ file: "a.yaml", text: svc("a") }]);
    await parser.parse([{ file: "b.yaml", text: svc("b") }]);
    expect(parser.started).toBe(1);
    // A 600 KB slice (below the 1 MiB "big job" that always ends the worker) grows its heap.
    const out = await parser.parse([{ file: "big.yaml", text: bigSlice(600_000) }]);
    expect(out[0]?.ok && out[0].parsed.valid).toBe(true);
    await parser.parse([{ file: "c.yaml", text: svc("c") }]);
    expect(parser.started).toBe(2);
  });

  test("parses in a worker thread, one outcome per file, in order", async () => {
    parser = new MeshParseWorker({ timeoutMs: 30_000, memoryMb: 256 });
    const out = await parser.parse([
      { file: "a.yaml", text: svc("a") },
      { file: "b.yaml", text: `${svc("b", 70000)}---\n` },
    ]);
    expect(parser.unavailable).toBeUndefined();
    expect(out.map((o) => o.ok && o.parsed.valid)).toEqual([true, false]);
    expect(out[1]?.ok && out[1].parsed.diagnostics[0]).toMatchObject({
      file: "b.yaml",
      path: "spec.ports[0].port",
    });
  });

  test("a file over the deadline is stopped and rejected; the files after it are parsed by a new worker", async () => {
    parser = new MeshParseWorker({ timeoutMs: 150, memoryMb: 512 });
    const out = await parser.parse([
      { file: "a.yaml", text: svc("a") },
      { file: "slow.yaml", text: bigSlice(2 * 1024 * 1024) },
      { file: "c.yaml", text: svc("c") },
    ]);
    expect(out[0]).toMatchObject({ ok: true });
    expect(out[1]).toMatchObject({ ok: false, reason: "timeout" });
    expect(out[1]?.ok === false && out[1].message).toMatch(/longer than 150 ms/);
    expect(out[2]?.ok && out[2].parsed.items).toHaveLength(1);
  });

  test("a file that needs more memory than the worker may use is rejected, and the worker's memory is gone with it", async () => {
    parser = new MeshParseWorker({ timeoutMs: 60_000, memoryMb: 32 });
    const out = await parser.parse([{ file: "huge.yaml", text: bigSlice(3 * 1024 * 1024) }]);
    expect(out[0]).toMatchObject({ ok: false, reason: "memory" });
    expect(out[0]?.ok === false && out[0].message).toMatch(/more than 32 MB/);
    // The next job gets a fresh worker.
    const again = await parser.parse([{ file: "a.yaml", text: svc("a") }]);
    expect(again[0]).toMatchObject({ ok: true });
  });

  test("close() ends a parse in flight at once", async () => {
    parser = new MeshParseWorker({ timeoutMs: 60_000, memoryMb: 512 });
    await parser.parse([{ file: "warm.yaml", text: svc("w") }]);
    const job = parser.parse([{ file: "slow.yaml", text: bigSlice(3 * 1024 * 1024) }]);
    setTimeout(() => parser?.close(), 50);
    const out = await job;
    expect(out[0]).toMatchObject({ ok: false, reason: "closed" });
  });
});
