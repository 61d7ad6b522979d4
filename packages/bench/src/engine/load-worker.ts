// Worker-thread entry (dist/load-worker.js): runs one shard and posts its result.
import { performance } from "node:perf_hooks";
import { parentPort, workerData } from "node:worker_threads";
import { isMeshctlError } from "@meshctl/core";
import { serializeShardResult } from "./run-load.js";
import { LoadShard, type ShardOptions } from "./shard.js";

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const raw = (workerData as { shard: ShardOptions }).shard;
  const opts: ShardOptions = { ...raw, payload: Buffer.from(raw.payload) };
  let shard: LoadShard;
  try {
    shard = await LoadShard.connect(opts);
  } catch (err) {
    const error = isMeshctlError(err)
      ? { code: err.code, message: err.message, kind: err.kind, suggestions: [...err.suggestions] }
      : { code: "BENCH_WORKER_FAILED", message: String(err), kind: "bug", suggestions: [] };
    port.postMessage({ type: "error", error });
    return;
  }
  port.on("message", (m: { type: string; startEpochMs?: number }) => {
    if (m.type === "stop") shard.stop();
    if (m.type === "start" && m.startEpochMs !== undefined) {
      // The parent's start is a timeOrigin-based epoch (see runInWorkers): map it onto this thread's clock.
      const startAt = m.startEpochMs - performance.timeOrigin;
      shard
        .run(startAt, (progress) => port.postMessage({ type: "progress", progress }))
        .then((result) => {
          port.postMessage({ type: "result", result: serializeShardResult(result) });
          port.close();
        });
    }
  });
  port.postMessage({ type: "ready" });
}

void main();
