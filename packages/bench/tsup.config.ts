import { defineConfig } from "tsup";
import { baseTsupConfig } from "../../tsup.base.js";

// loadgen-main and load-worker are standalone processes/threads (see src/engine/types.ts).
export default defineConfig({
  ...baseTsupConfig,
  entry: {
    index: "src/index.ts",
    "loadgen-main": "src/loadgen-main.ts",
    "load-worker": "src/engine/load-worker.ts",
  },
});
