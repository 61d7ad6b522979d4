/**
 * The worker-thread entry that parses mesh YAML off the serving thread (see mesh-parse-worker.ts
 * and ADR 0066). A process entry like serve-main: importing it anywhere but in the worker that
 * MeshParseWorker starts does nothing.
 *
 * Protocol: once loaded the worker posts `{ ready: true }`; the parent then posts
 * `{ id, files: [{ file, text }] }` and the worker answers each file as soon as it is parsed
 * (`{ id, index, parsed }`), so when a file overruns its deadline the parent knows which one it
 * was and which ones are done. The pre-scan runs here too: a big document of an unread kind
 * costs the worker a regex pass and the serving thread nothing.
 */
import { getHeapStatistics } from "node:v8";
import { parentPort, workerData } from "node:worker_threads";
import { parseMeshFileFiltered } from "./file-prefilter.js";
import { PARSE_WORKER_MARK, type ParseJob, type ParseReply } from "./mesh-parse-worker.js";

const port = parentPort;
if (port && (workerData as { mark?: unknown } | null)?.mark === PARSE_WORKER_MARK) {
  port.on("message", (job: ParseJob) => {
    job.files.forEach(({ file, text }, index) => {
      let reply: ParseReply;
      try {
        reply = { id: job.id, index, parsed: parseMeshFileFiltered(file, text) };
      } catch (error) {
        // The parser is not expected to throw (a stack overflow inside it is reported as a YAML
        // error); if it does, this file is rejected and the others go on.
        reply = { id: job.id, index, error: error instanceof Error ? error.message : String(error) };
      }
      // The worker's heap is invisible to the parent's process.memoryUsage(): report it (~µs).
      port.postMessage({ ...reply, heapBytes: getHeapStatistics().total_heap_size });
    });
  });
  port.postMessage({ ready: true } satisfies ParseReply);
}
