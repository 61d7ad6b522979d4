import { mergeConfig } from "vitest/config";
import { vitestConfig } from "../../vitest.base.js";

// The real-kernel tests load obj/*.bpf.o: compile it first when it is missing or stale.
export default mergeConfig(vitestConfig(), { test: { globalSetup: ["./test/global-setup.ts"] } });
