import { vitestConfig } from "../../vitest.base.js";

// oclif writes through console.log; @oclif/test captures process.stdout, so vitest must not
// intercept the console first.
export default vitestConfig({ testTimeout: 60_000, disableConsoleIntercept: true });
