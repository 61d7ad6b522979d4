import { defineConfig } from "vitest/config";

/** Shared test settings; packages call this with their own overrides. */
export function vitestConfig(
  overrides: { testTimeout?: number; include?: string[]; disableConsoleIntercept?: boolean } = {},
) {
  return defineConfig({
    resolve: { conditions: ["@meshctl/source"] },
    ssr: { resolve: { conditions: ["@meshctl/source"] } },
    test: {
      include: overrides.include ?? ["src/**/*.test.ts", "src/**/*.test.tsx", "test/**/*.test.ts"],
      testTimeout: overrides.testTimeout ?? 30_000,
      hookTimeout: 60_000,
      pool: "forks",
      disableConsoleIntercept: overrides.disableConsoleIntercept ?? false,
      env: { FORCE_COLOR: "0", NO_COLOR: "1" },
    },
  });
}
