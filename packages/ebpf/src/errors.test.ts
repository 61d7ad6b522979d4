import { describe, expect, test } from "vitest";
import { classifyBpftoolFailure } from "./errors.js";

const failure = (output: string, extra: { notFound?: boolean; exitCode?: number } = {}) => ({
  args: ["prog", "loadall", "x.o", "/sys/fs/bpf/x"],
  exitCode: extra.exitCode ?? 255,
  output,
  notFound: extra.notFound ?? false,
});

describe("classifyBpftoolFailure", () => {
  test("a verifier log becomes EBPF_VERIFIER_REJECTED with the log in details", () => {
    const error = classifyBpftoolFailure(
      failure(
        "libbpf: prog 'mc_sockops': BPF program load failed: Permission denied\nlibbpf: -- BEGIN PROG LOAD LOG --\n0: R1=ctx() R10=fp0\ninvalid access to map value, value_size=4 off=256 size=4\nprocessed 7 insns\n-- END PROG LOAD LOG --",
      ),
      "loading",
    );
    expect(error.code).toBe("EBPF_VERIFIER_REJECTED");
    expect(error.details.verifierLog).toEqual(
      expect.arrayContaining(["invalid access to map value, value_size=4 off=256 size=4"]),
    );
  });

  test("EPERM becomes EBPF_PERMISSION_DENIED with what to do", () => {
    const error = classifyBpftoolFailure(
      failure("libbpf: Error in bpf_object__probe_loading():Operation not permitted(1)."),
      "loading",
    );
    expect(error.code).toBe("EBPF_PERMISSION_DENIED");
    expect(error.suggestions.join(" ")).toMatch(/root/);
    expect(error.message).not.toMatch(/errno|\(1\)/);
  });

  test("an unknown program type becomes EBPF_NOT_SUPPORTED", () => {
    expect(
      classifyBpftoolFailure(failure("Error: failed to attach program: Invalid argument"), "attaching").code,
    ).toBe("EBPF_NOT_SUPPORTED");
  });

  test("a missing bpftool says how to install it", () => {
    const error = classifyBpftoolFailure(failure("", { notFound: true, exitCode: 127 }), "loading");
    expect(error.code).toBe("EBPF_BPFTOOL_MISSING");
    expect(error.suggestions[0]).toMatch(/apt-get install bpftool/);
  });

  test("anything else stays a typed, external failure", () => {
    const error = classifyBpftoolFailure(failure("Error: something odd"), "pinning");
    expect(error.code).toBe("EBPF_OPERATION_FAILED");
    expect(error.kind).toBe("external");
  });
});
