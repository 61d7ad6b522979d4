import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { ldpSidBitFor, renderSidecarProfile } from "../src/config/sidecar-profile.js";
import { parseStartupConf } from "../src/config/startup-conf.js";
import { parseVclConf } from "../src/config/vcl-conf.js";
import { renderVppKubernetesManifests } from "../src/k8s/manifests.js";

describe("renderSidecarProfile", () => {
  const profile = renderSidecarProfile();

  test("renders files that parse back to the same models without errors", () => {
    const startup = parseStartupConf(profile.files["startup.conf"], { file: "startup.conf" });
    const vcl = parseVclConf(profile.files["vcl.conf"], { file: "vcl.conf" });
    expect(startup.issues).toEqual([]);
    expect(vcl.issues).toEqual([]);
    expect(startup.config).toEqual(profile.startupConf);
    expect(vcl.config).toEqual(profile.vclConf);
    expect(profile.issues).toEqual([]);
  });

  test("has what a sidecar needs", () => {
    expect(profile.startupConf.session).toEqual({
      enable: true,
      useAppSocketApi: true,
      eventQueueLength: 100000,
    });
    expect(profile.vclConf).toMatchObject({
      useMqEventfd: true,
      multiThreadWorkers: true,
      appSocketApi: "/run/vpp/app_ns_sockets/default",
    });
    expect(profile.ldPreloadEnv).toEqual({
      LD_PRELOAD: "/usr/lib/x86_64-linux-gnu/libvcl_ldpreload.so",
      VCL_CONFIG: "/etc/vpp/vcl.conf",
      LDP_SID_BIT: "14",
      LDP_APP_NAME: "envoy",
    });
    expect(profile.envoyBootstrap.default_socket_interface).toBe("envoy.extensions.vcl.vcl_socket_interface");
    expect(profile.startupConf.plugins?.plugin?.["dpdk_plugin.so"]).toEqual({ disable: true });
  });

  test("every choice is explained", () => {
    const settings = profile.explanations.map((e) => e.setting).join(" ");
    for (const s of [
      "use-mq-eventfd",
      "multi-thread-workers",
      "event-queue-length",
      "use-app-socket-api",
      "LDP_SID_BIT",
      "LD_PRELOAD",
      "default_socket_interface",
    ]) {
      expect(settings).toContain(s);
    }
  });

  test("options: NICs, pinned cores, many Envoy workers", () => {
    const p = renderSidecarProfile({
      nics: ["0000:18:00.0"],
      mainCore: 1,
      workerCores: "2-3",
      envoyConcurrency: 32,
      runtimeDir: "/var/run/vpp/",
    });
    expect(p.startupConf.dpdk).toEqual({ dev: { "0000:18:00.0": { numRxQueues: 1 } } });
    expect(p.startupConf.plugins).toBeUndefined();
    expect(p.startupConf.cpu).toEqual({ mainCore: 1, corelistWorkers: "2-3" });
    expect(p.vclConf.maxWorkers).toBe(34);
    expect(p.startupConf.unix?.cliListen).toBe("/var/run/vpp/cli.sock");
    expect(p.issues.filter((i) => i.severity === "error")).toEqual([]);
  });

  test("a main core inside the worker list is reported", () => {
    expect(renderSidecarProfile({ mainCore: 2, workerCores: "2-3" }).issues.map((i) => i.path)).toContain(
      "cpu.corelist-workers",
    );
  });

  test("LDP_SID_BIT covers the kernel fds and stays within 5..30", () => {
    expect([
      ldpSidBitFor(1),
      ldpSidBitFor(32),
      ldpSidBitFor(33),
      ldpSidBitFor(16384),
      ldpSidBitFor(2 ** 40),
    ]).toEqual([5, 5, 6, 14, 30]);
  });
});

describe("renderVppKubernetesManifests", () => {
  const m = renderVppKubernetesManifests({ image: "registry.example/vpp:26.06", namespace: "vpp-system" });

  test("the YAML files parse and contain the DaemonSet and the sidecar patch", () => {
    const docs = m.files["vpp-daemonset.yaml"]!.split(/^---$/m).map((d) => parse(d));
    expect(docs.map((d) => d.kind)).toEqual(["Namespace", "ConfigMap", "DaemonSet"]);
    const ds = docs[2];
    expect(ds.metadata.namespace).toBe("vpp-system");
    expect(ds.spec.template.spec.containers[0].image).toBe("registry.example/vpp:26.06");
    expect(ds.spec.template.spec.volumes).toContainEqual({
      name: "run-vpp",
      hostPath: { path: "/run/vpp", type: "DirectoryOrCreate" },
    });
    // The ConfigMap carries the same startup.conf the profile renders, and it still validates.
    expect(parseStartupConf(docs[1].data["startup.conf"]).issues).toEqual([]);
    const patch = parse(m.files["sidecar-patch.yaml"]!);
    const c = patch.spec.template.spec.containers[0];
    expect(c.name).toBe("istio-proxy");
    expect(c.env).toContainEqual({ name: "LD_PRELOAD", value: "/opt/meshctl-vpp/lib/libvcl_ldpreload.so" });
    expect(c.env).toContainEqual({ name: "VCL_CONFIG", value: "/etc/meshctl-vpp/vcl.conf" });
    expect(c.volumeMounts.map((v: { mountPath: string }) => v.mountPath)).toEqual([
      "/run/vpp",
      "/opt/meshctl-vpp/lib",
      "/etc/meshctl-vpp",
    ]);
    expect(c.resources.limits.memory).toBeDefined();
    expect(parseVclConf(parse(m.files["vcl-configmap.yaml"]!).data["vcl.conf"]).valid).toBe(true);
  });
});
