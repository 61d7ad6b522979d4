import { mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { EXIT_CODES, MeshctlError } from "@meshctl/core";
import {
  formatConfigIssue,
  type ProfileExplanation,
  parseStartupConf,
  parseVclConf,
  renderSidecarProfile,
  type VppConfigIssue,
} from "@meshctl/vpp";
import { Flags } from "@oclif/core";
import { MeshctlCommand } from "../../base-command.js";
import { profileOptionsFromFlags, vppProfileFlags } from "./shared-flags.js";

export type VppConfigResult =
  | {
      readonly kind: "profile";
      readonly profile: "sidecar";
      readonly files: Readonly<Record<string, string>>;
      /** Paths written with --out, else empty. */
      readonly written: readonly string[];
      readonly ldPreloadEnv: Readonly<Record<string, string>>;
      readonly envoyBootstrap: unknown;
      readonly explanations: readonly ProfileExplanation[];
      readonly issues: readonly VppConfigIssue[];
    }
  | {
      readonly kind: "check";
      readonly files: readonly {
        readonly path: string;
        readonly type: "startup.conf" | "vcl.conf";
        readonly valid: boolean;
        readonly issues: readonly VppConfigIssue[];
      }[];
    };

export default class VppConfig extends MeshctlCommand<VppConfigResult> {
  static override summary =
    "Render startup.conf and vcl.conf for VPP sidecar acceleration, or check existing ones";
  static override description =
    `--profile sidecar renders a working pair: the session layer on with the app socket API, worker
queues sized for Envoy, use-mq-eventfd so idle sidecars do not spin, fifo and segment sizes, and
multi-thread workers for Envoy's threads. It also prints the LD_PRELOAD environment and the Envoy
bootstrap fragment for the native VCL socket interface. Every choice is explained in docs/vpp.md.

--check FILE validates existing files (vcl.conf when the name contains "vcl", else startup.conf)
and reports file:line: reason for each problem; the exit code is 5 when any has errors.`;
  static override examples = [
    "<%= config.bin %> vpp config --profile sidecar",
    "<%= config.bin %> vpp config --profile sidecar --out /etc/vpp --envoy-concurrency 4 --main-core 1 --worker-cores 2-3",
    "<%= config.bin %> vpp config --check /etc/vpp/startup.conf --check /etc/vpp/vcl.conf",
  ];
  static override flags = {
    profile: Flags.string({
      description: "Configuration profile.",
      options: ["sidecar"],
      default: "sidecar",
    }),
    out: Flags.string({ description: "Write startup.conf and vcl.conf into DIR.", helpValue: "DIR" }),
    check: Flags.string({
      description: "Validate an existing startup.conf or vcl.conf (repeatable).",
      multiple: true,
      helpValue: "FILE",
      exclusive: ["out"],
    }),
    ...vppProfileFlags,
  };

  protected async execute(): Promise<VppConfigResult> {
    const { flags } = await this.parse(VppConfig);
    if (flags.check?.length) {
      const files = [];
      for (const path of flags.check) {
        const text = await readConfigFile(path);
        const type = /vcl/i.test(basename(path)) ? ("vcl.conf" as const) : ("startup.conf" as const);
        const parsed =
          type === "vcl.conf" ? parseVclConf(text, { file: path }) : parseStartupConf(text, { file: path });
        files.push({ path, type, valid: parsed.valid, issues: parsed.issues });
      }
      return { kind: "check", files };
    }
    const profile = renderSidecarProfile(profileOptionsFromFlags(flags));
    const written: string[] = [];
    if (flags.out) {
      const dir = resolve(flags.out);
      try {
        await mkdir(dir, { recursive: true });
        for (const [name, text] of Object.entries(profile.files)) {
          await writeFile(join(dir, name), text);
          written.push(join(dir, name));
        }
      } catch (cause) {
        throw new MeshctlError(
          "VPP_CONFIG_WRITE_FAILED",
          `--out ${flags.out}: cannot write the configuration there: ${fileReason(cause)}.`,
          {
            kind: "usage",
            suggestions: ["Pass --out a directory you can write to (it is created if missing)."],
            details: { path: flags.out, written },
            cause,
          },
        );
      }
    }
    return {
      kind: "profile",
      profile: "sidecar",
      files: profile.files,
      written,
      ldPreloadEnv: profile.ldPreloadEnv,
      envoyBootstrap: profile.envoyBootstrap,
      explanations: profile.explanations,
      issues: profile.issues,
    };
  }

  protected override exitCodeFor(result: VppConfigResult): number {
    return result.kind === "check" && result.files.some((f) => !f.valid) ? EXIT_CODES.checkFailed : 0;
  }

  protected renderText(result: VppConfigResult): string {
    if (result.kind === "check") {
      return result.files
        .map((f) =>
          [
            `${f.path} (${f.type}): ${f.valid ? "valid" : "INVALID"}`,
            ...f.issues.map((i) => `  ${formatConfigIssue(i)}`),
          ].join("\n"),
        )
        .join("\n");
    }
    const out: string[] = [];
    if (result.written.length) out.push(`Wrote ${result.written.join(" and ")}.`, "");
    else for (const [name, text] of Object.entries(result.files)) out.push(`==> ${name}`, text);
    out.push("==> LD_PRELOAD wiring (sidecar environment)");
    for (const [k, v] of Object.entries(result.ldPreloadEnv)) out.push(`${k}=${v}`);
    out.push(
      "",
      "==> Envoy native VCL socket interface (contrib images; bootstrap fragment)",
      JSON.stringify(result.envoyBootstrap, null, 2),
      "",
      "==> Why",
    );
    for (const e of result.explanations) out.push(`- [${e.file}] ${e.setting}: ${e.why}`);
    for (const i of result.issues) out.push(`! ${formatConfigIssue(i)}`);
    return out.join("\n");
  }
}

/** The OS reason of a file error in words: "no such file or directory (ENOENT)". */
function fileReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const words: Record<string, string> = {
    ENOENT: "no such file or directory",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EISDIR: "it is a directory",
    ENOTDIR: "a part of the path is not a directory",
    EROFS: "read-only file system",
    ENOSPC: "no space left on the device",
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/** Reads a file given to --check; a missing or unreadable file is the user's to fix, not a bug. */
async function readConfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === "ENOENT";
    throw new MeshctlError(
      missing ? "VPP_CONFIG_NOT_FOUND" : "VPP_CONFIG_UNREADABLE",
      `--check ${path}: ${missing ? "the file does not exist" : `cannot read it: ${fileReason(cause)}`}.`,
      {
        kind: "usage",
        suggestions: [
          missing
            ? "Pass the path of an existing startup.conf or vcl.conf (VPP's default is /etc/vpp/startup.conf)."
            : "Check the path and its permissions.",
        ],
        details: { path },
        cause,
      },
    );
  }
}
