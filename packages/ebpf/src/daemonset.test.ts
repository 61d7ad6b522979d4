import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { renderEbpfDaemonSet } from "./daemonset.js";

describe("renderEbpfDaemonSet", () => {
  test("renders a privileged DaemonSet with bpffs and cgroup mounts", () => {
    const manifest = parse(
      renderEbpfDaemonSet({
        image: "example/meshctl:1",
        ports: [15001, 15006],
        maxMessageBytes: 0,
        bulkTtlSeconds: 0,
        sidecarUid: 1337,
      }),
    );
    expect(manifest.kind).toBe("DaemonSet");
    const pod = manifest.spec.template.spec;
    const container = pod.containers[0];
    expect(container.securityContext.privileged).toBe(true);
    expect(pod.hostNetwork).toBe(true);
    expect(container.volumeMounts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ mountPath: "/sys/fs/bpf", mountPropagation: "Bidirectional" }),
        expect.objectContaining({ mountPath: "/sys/fs/cgroup" }),
      ]),
    );
    expect(container.command.at(-1)).toContain('"--ports" "15001,15006"');
    expect(container.command.at(-1)).toContain('"--bulk-ttl" "0"');
    expect(container.command.at(-1)).toContain('"--sidecar-uid" "1337"');
    expect(container.lifecycle.preStop.exec.command).toEqual([
      "meshctl",
      "disable",
      "ebpf",
      "--pin-dir",
      "/sys/fs/bpf/meshctl",
    ]);
    expect(manifest.spec.selector.matchLabels).toEqual({ "app.kubernetes.io/name": "meshctl-ebpf" });
    expect(manifest.spec.template.metadata.labels).toMatchObject(manifest.spec.selector.matchLabels);
  });

  test("requires an image", () => {
    expect(() => renderEbpfDaemonSet({ image: "" })).toThrow(
      expect.objectContaining({ code: "EBPF_INVALID_OPTIONS" }),
    );
  });
});
