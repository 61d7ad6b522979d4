import { vitestConfig } from "../../vitest.base.js";

export default vitestConfig();
