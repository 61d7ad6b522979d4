import { defineConfig } from "tsup";
import { baseTsupConfig } from "../../tsup.base.js";

export default defineConfig({ ...baseTsupConfig, entry: ["src/index.ts"], splitting: true });
