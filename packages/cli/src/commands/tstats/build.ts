import { buildTstatsModules, type TstatsBuildResult, type TstatsBuildTarget } from "@meshctl/tstats";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";

/** `--json`: the output directory and each file built, with its size and sha256. */
export type TstatsBuildCommandResult = Omit<TstatsBuildResult, "output">;

export default class TstatsBuild extends MeshctlCommand<TstatsBuildCommandResult> {
  static override summary = "Compile the tstats Envoy module (native dynamic module and/or Wasm)";
  static override description =
    `Compiles packages/tstats/native with its build.sh: libtstats.so, an Envoy dynamic module for stock
Envoy 1.40 (needs clang), and tstats.wasm, the same logic as a proxy-wasm plugin for comparison
(needs clang, lld and wasi-libc). By default the files go to @meshctl/tstats' obj/ directory, where
\`meshctl xds serve\` points Envoy at them (\`meshctl enable tstats --module native|wasm\`).
Rendering Istio's filters as an EnvoyFilter or raw xDS is \`meshctl tstats render\`.`;
  static override examples = [
    "<%= config.bin %> tstats build",
    "<%= config.bin %> tstats build --target native --json",
    "<%= config.bin %> tstats build --target wasm --out /opt/meshctl/modules",
  ];
  static override flags = {
    out: Flags.string({
      description: "Output directory (default: @meshctl/tstats' obj/, where the control plane looks).",
      helpValue: "DIR",
    }),
    target: Flags.string({
      description: "What to build.",
      options: ["native", "wasm", "all"],
      default: "all",
    }),
  };

  protected async execute(): Promise<TstatsBuildCommandResult> {
    const { flags } = await this.parse(TstatsBuild);
    const { output: _output, ...result } = await buildTstatsModules({
      target: flags.target as TstatsBuildTarget,
      ...(flags.out !== undefined ? { outDir: flags.out } : {}),
    });
    return result;
  }

  protected renderText(r: TstatsBuildCommandResult): string {
    return [
      `Built ${r.target} into ${r.outDir}:`,
      ...r.files.map((f) => `  ${f.path}  ${f.bytes} bytes  sha256 ${f.sha256}`),
    ].join("\n");
  }
}
