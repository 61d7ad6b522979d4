// Standalone load generator (dist/loadgen-main.js): LoadOptions JSON in (argv[2] or stdin),
// one LoadResult JSON document out. The lab runs it inside network namespaces.
import { isMeshctlError } from "@meshctl/core";
import { runLoad } from "./engine/run-load.js";
import type { LoadOptions } from "./engine/types.js";

async function readInput(): Promise<string> {
  const arg = process.argv[2];
  if (arg !== undefined && arg !== "-") return arg;
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function main(): Promise<number> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    const options = JSON.parse(await readInput()) as LoadOptions;
    const result = await runLoad({ ...options, signal: controller.signal });
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (err) {
    const error = isMeshctlError(err)
      ? { code: err.code, message: err.message, kind: err.kind }
      : {
          code: "BENCH_LOADGEN_FAILED",
          message: err instanceof Error ? err.message : String(err),
          kind: "bug",
        };
    process.stdout.write(`${JSON.stringify({ error })}\n`);
    return 1;
  }
}

main().then((code) => {
  process.exitCode = code;
});
