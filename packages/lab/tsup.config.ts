import { defineConfig } from "tsup";
import { baseTsupConfig } from "../../tsup.base.js";

// lab-agent runs echo servers, load and the xDS control plane inside the lab's pods (agent-protocol.ts).
export default defineConfig({
  ...baseTsupConfig,
  entry: { index: "src/index.ts", "lab-agent": "src/lab-agent.ts" },
});
