import { defineConfig } from "tsup";
import { baseTsupConfig } from "../../tsup.base.js";

export default defineConfig({
  ...baseTsupConfig,
  entry: {
    index: "src/index.ts",
    "testing/index": "src/testing/index.ts",
    "serve-main": "src/serve-main.ts",
    // The parse worker (ADR 0066): resolved next to the bundle that starts it.
    "parse-worker": "src/model/parse-worker.ts",
  },
});
