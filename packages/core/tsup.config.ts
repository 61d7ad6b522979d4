import { defineConfig } from "tsup";
import { baseTsupConfig } from "../../tsup.base.js";

export default defineConfig({
  ...baseTsupConfig,
  entry: { index: "src/index.ts", "testing/index": "src/testing/index.ts" },
});
