import type { Options } from "tsup";

/** Shared build settings: every package extends this in two lines. */
export const baseTsupConfig: Options = {
  entry: ["src/index.ts"],
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  platform: "node",
  target: "node20",
  splitting: false,
  treeshake: true,
};
