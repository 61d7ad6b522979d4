import { errorMessage, findProgram, isMeshctlError } from "@meshctl/core";
import {
  type EbpfStatus,
  type EbpfSupport,
  findCgroup2Mount,
  getEbpfStatus,
  probeEbpfSupport,
} from "@meshctl/ebpf";
import { checkFactory } from "./check.js";
import type { Check, CheckGroup } from "./types.js";

export interface EbpfFacts {
  readonly bpftool: string | null;
  readonly cgroup2Mount: string | null;
  readonly support: EbpfSupport | null;
  readonly supportError: string | null;
  readonly status: EbpfStatus | null;
  readonly statusError: string | null;
}

/** Gathers what the eBPF checks need; never throws. */
export async function collectEbpfFacts(pinDir?: string): Promise<EbpfFacts> {
  const [bpftool, cgroup2Mount] = await Promise.all([findProgram("bpftool"), findCgroup2Mount()]);
  const settle = async <T>(fn: () => Promise<T>): Promise<[T | null, string | null]> => {
    try {
      return [await fn(), null];
    } catch (error) {
      return [null, isMeshctlError(error) ? `${error.code}: ${error.message}` : errorMessage(error)];
    }
  };
  const [support, supportError] = bpftool
    ? await settle(probeEbpfSupport)
    : [null, "bpftool is not installed"];
  const [status, statusError] = bpftool
    ? await settle(() => getEbpfStatus(pinDir ? { pinDir } : {}))
    : [null, "bpftool is not installed"];
  return {
    bpftool: bpftool ?? null,
    cgroup2Mount: cgroup2Mount ?? null,
    support,
    supportError,
    status,
    statusError,
  };
}

const check = checkFactory("ebpf");

/**
 * Turns eBPF facts into checks: tooling, kernel support, cgroup v2, and what is attached.
 *
 * @example
 * const checks = evaluateEbpfChecks(await collectEbpfFacts());
 */
export function evaluateEbpfChecks(f: EbpfFacts): Check[] {
  const checks: Check[] = [];
  checks.push(
    f.bpftool
      ? check("bpftool", "ok", "bpftool is installed", [f.bpftool], null)
      : check(
          "bpftool",
          "fail",
          "bpftool is not installed; meshctl loads its BPF programs with it",
          [],
          "Install bpftool (`apt-get install bpftool`).",
        ),
  );
  checks.push(
    f.cgroup2Mount
      ? check("cgroup2", "ok", `cgroup v2 is mounted at ${f.cgroup2Mount}`, [], null)
      : check(
          "cgroup2",
          "warn",
          "cgroup v2 is not mounted",
          [],
          "`meshctl enable ebpf` mounts one at /run/meshctl/cgroupv2; or mount it yourself.",
        ),
  );
  if (f.support) {
    checks.push(
      f.support.supported
        ? check(
            "kernel-support",
            "ok",
            `the kernel (${f.support.kernelRelease}) has everything sidecar acceleration needs`,
            [...f.support.present],
            null,
          )
        : check(
            "kernel-support",
            f.support.root ? "fail" : "warn",
            `sidecar acceleration cannot run: missing ${f.support.missing.join(", ")}`,
            [
              ...f.support.present.map((p) => `present: ${p}`),
              ...f.support.missing.map((m) => `missing: ${m}`),
            ],
            f.support.root
              ? "Use Linux >= 5.15 with CONFIG_BPF_SYSCALL, CONFIG_CGROUP_BPF and CONFIG_BPF_STREAM_PARSER."
              : "Run `sudo meshctl diagnose` to probe the kernel.",
          ),
    );
  } else if (f.supportError) {
    checks.push(
      check("kernel-support", "warn", "could not probe the kernel's BPF features", [f.supportError], null),
    );
  }
  const s = f.status;
  if (!s) {
    if (f.statusError)
      checks.push(
        check("status", "warn", "could not read the acceleration state", [f.statusError], "Run as root."),
      );
    return checks;
  }
  const evidence = [
    `pins: ${s.pinDir}`,
    ...s.attachments.map((a) => `attached: ${a.cgroupPath} (${a.programName} id ${a.programId})`),
    ...s.maps.map((m) => `map ${m.name}: ${m.entries ?? "-"}/${m.maxEntries}`),
    ...(s.verdict
      ? [
          s.verdict.programId === null
            ? "sk_msg: not attached to the sockhash (kernel view): sockets enter it and nothing is redirected"
            : `sk_msg: program ${s.verdict.programId} attached to the sockhash (kernel view)`,
        ]
      : []),
  ];
  if (s.state === "disabled") checks.push(check("status", "ok", "acceleration is not enabled", [], null));
  else if (s.state === "enabled")
    checks.push(
      check(
        "status",
        "ok",
        `acceleration is enabled on ${s.attachments.map((a) => a.cgroupPath).join(", ")}`,
        evidence,
        null,
      ),
    );
  else {
    checks.push(
      check(
        "status",
        "warn",
        `acceleration is ${s.state}`,
        evidence,
        s.state === "broken"
          ? "Run `meshctl enable ebpf`: it asks the kernel what is attached and makes what is missing (or `meshctl disable ebpf` to remove everything)."
          : "Run `meshctl enable ebpf` to attach, or `meshctl disable ebpf` to clean up.",
      ),
    );
  }
  if (s.foreignPrograms.length > 0) {
    checks.push(
      check(
        "foreign-programs",
        "warn",
        "other sock_ops programs run for the accelerated cgroups",
        s.foreignPrograms.map((p) => `${p.programName || "?"} id ${p.programId} on ${p.cgroupPath}`),
        "Two socket accelerators fight over sockets (EBUSY); keep only one.",
      ),
    );
  }
  const c = s.counters;
  if (c && s.state !== "disabled") {
    checks.push(
      check(
        "counters",
        c.socketAddErrors > 0 ? "warn" : "ok",
        `${c.ingress.messages} ingress and ${c.egress.messages} egress messages redirected; ${c.ingress.misses + c.egress.misses} misses`,
        [
          `ingress: ${c.ingress.messages} msgs, ${c.ingress.bytes} bytes, ${c.ingress.misses} misses`,
          `egress: ${c.egress.messages} msgs, ${c.egress.bytes} bytes, ${c.egress.misses} misses`,
          `sockets added ${c.socketsAdded}, refused ${c.socketAddErrors}, REDIRECT pairs ${c.pairsCreated}, policy switches ${c.policySkips}`,
          `learned bulk services: ${(s.bulkServices ?? []).filter((b) => b.active).length} active, ${c.bulkSkips} sockets kept on TCP`,
        ],
        c.socketAddErrors > 0
          ? "Some sockets already belonged to another sk_msg program; find it with `bpftool prog show`."
          : null,
      ),
    );
  }
  return checks;
}

/**
 * The `ebpf` group of `meshctl diagnose`.
 *
 * @example
 * runDiagnose({ groups: [ebpfCheckGroup()] });
 */
export function ebpfCheckGroup(
  pinDir?: string,
  collect: (pinDir?: string) => Promise<EbpfFacts> = collectEbpfFacts,
): CheckGroup {
  return { name: "ebpf", run: async () => evaluateEbpfChecks(await collect(pinDir)) };
}
