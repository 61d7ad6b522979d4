/**
 * `meshctl install` / `meshctl uninstall` through oclif against a real kube-apiserver + etcd
 * (bench/peers/istiod/launch.mjs). No controller-manager or kubelet: nothing rolls out, and a
 * deleted namespace stays Terminating. The launcher's API server runs with kube-apiserver's default
 * --allow-privileged=false, which refuses the (privileged) eBPF DaemonSet: one test relies on that,
 * the others install the unprivileged components (xds, tstats).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { requirementGate } from "@meshctl/core/testing";
import { settings } from "@oclif/core";
import { runCommand } from "@oclif/test";
import { Ajv } from "ajv";
import { register } from "tsx/esm/api";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CLI_ROOT } from "../../test/helpers.js";

settings.enableAutoTranspile = false;
register();
const load = { root: CLI_ROOT };
const capture = {};
const ajv = new Ajv({ allErrors: true, strict: false });
const schema = (name: string) =>
  ajv.compile(
    JSON.parse(readFileSync(new URL(`../../schemas/${name}.schema.json`, import.meta.url), "utf8")) as object,
  );

interface KubeApiserver {
  readonly kubeconfig: string;
  close(): Promise<void>;
}
interface KubeLauncher {
  kubeAvailable(): { ok: boolean; reason: string };
  startKubeApiserver(): Promise<KubeApiserver>;
}
const launcher = (await import(
  pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), "../../../../bench/peers/istiod/launch.mjs"))
    .href
)) as KubeLauncher;
const available = launcher.kubeAvailable();
const gate = requirementGate("kube-apiserver", available.ok ? undefined : available.reason, "cli install");

describe("meshctl install / uninstall without a cluster", () => {
  test("a kubeconfig that does not exist is a usage error naming it", async () => {
    const { stdout, error } = await runCommand(
      ["install", "--kubeconfig", "/nonexistent/kubeconfig", "--json"],
      load,
      capture,
    );
    expect(error?.oclif?.exit).toBe(2);
    expect(JSON.parse(stdout)).toMatchObject({
      error: {
        code: "KUBE_CONFIG_INVALID",
        kind: "usage",
        message: expect.stringContaining("/nonexistent/kubeconfig"),
      },
    });
  });

  test("an unknown component is a usage error listing the components", async () => {
    const { stderr, error } = await runCommand(
      ["install", "--components", "xds,warp", "--kubeconfig", "/nonexistent"],
      load,
      capture,
    );
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toContain('Error [KUBE_OPTIONS_INVALID]: Unknown component "warp".');
    expect(stderr).toContain("xds, ebpf, tstats, vpp");
  });
});

describe.skipIf(gate.skip)("meshctl install / uninstall against kube-apiserver", () => {
  let kube: KubeApiserver;
  const meshctl = (args: string[]) => runCommand([...args, "--kubeconfig", kube.kubeconfig], load, capture);

  beforeAll(async () => {
    if (gate.missing) throw new Error(gate.missing);
    kube = await launcher.startKubeApiserver();
  });
  afterAll(async () => {
    await kube?.close();
  });

  test("install --dry-run -o yaml prints the same manifests every time and writes nothing", async () => {
    const args = ["install", "--dry-run", "-o", "yaml", "-n", "mcc-dry", "--components", "xds,tstats"];
    const first = await meshctl(args);
    expect(first.error).toBeUndefined();
    expect((await meshctl(args)).stdout).toBe(first.stdout);
    const kinds = [...first.stdout.matchAll(/^kind: (\w+)$/gm)].map((m) => m[1]);
    expect(kinds).toEqual([
      "Namespace",
      "ServiceAccount",
      "ClusterRole",
      "ClusterRoleBinding",
      "ConfigMap",
      "Service",
      "Deployment",
    ]);
    expect(first.stdout).toContain(`image: ghcr.io/meshctl/meshctl:`);
    const found = await meshctl(["uninstall", "--dry-run", "-n", "mcc-dry", "--json"]);
    expect(JSON.parse(found.stdout)).toMatchObject({ changed: false, objects: [] });
  });

  test("install --no-wait applies, --json matches its schema; a second run says nothing changed", async () => {
    const args = [
      "install",
      "--no-wait",
      "-n",
      "mcc-a",
      "--components",
      "xds,tstats",
      "--image",
      "registry.example/m:1",
    ];
    const first = await meshctl([...args, "--json"]);
    expect(first.error).toBeUndefined();
    const result = JSON.parse(first.stdout) as { changed: boolean; objects: { action: string }[] };
    const validate = schema("install");
    expect(validate(result), JSON.stringify(validate.errors)).toBe(true);
    expect(result.changed).toBe(true);
    expect(result.objects.map((o) => o.action)).toEqual(Array(result.objects.length).fill("created"));
    expect(first.stderr).toBe(""); // --json: no progress lines

    const second = await meshctl(args);
    expect(second.error).toBeUndefined();
    expect(second.stdout).toMatch(/^ {2}unchanged {2}Deployment mcc-a\/meshctl-xds$/m);
    expect(second.stdout.trimEnd().split("\n").at(-1)).toBe(
      "Nothing changed: every object is already as meshctl renders it (7 unchanged).",
    );
    expect(second.stderr).toContain("meshctl install: applying 7 objects (field manager meshctl)");
  });

  test("install waits for the rollout and times out naming what is not ready", async () => {
    const args = ["install", "-n", "mcc-a", "--components", "xds,tstats", "--image", "registry.example/m:1"];
    const plain = await meshctl([...args, "--timeout", "2s"]);
    expect(plain.error?.oclif?.exit).toBe(3);
    expect(plain.stderr).toContain(
      "Error [KUBE_TIMEOUT]: Applied, but the rollout did not finish within 2 s:",
    );
    expect(plain.stderr).toContain(
      "Deployment mcc-a/meshctl-xds: 0/1 replicas ready (not yet observed by the Deployment controller)",
    );
    expect(plain.stderr).toContain("meshctl install: waiting (0 s): Deployment mcc-a/meshctl-xds");
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    const json = await meshctl([...args, "--timeout", "1s", "--json"]);
    expect(json.error?.oclif?.exit).toBe(3);
    const validate = schema("error");
    const body = JSON.parse(json.stdout) as { error: { code: string } };
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
    expect(body.error.code).toBe("KUBE_TIMEOUT");
  });

  test("an object the API server refuses stops the install before anything is written", async () => {
    // Default components include the privileged eBPF DaemonSet; this API server forbids privileged.
    const { stderr, error } = await meshctl(["install", "--no-wait", "-n", "mcc-a"]);
    expect(error?.oclif?.exit).toBe(2);
    expect(stderr).toContain("Error [KUBE_INVALID_OBJECT]");
    expect(stderr).toContain(
      "DaemonSet mcc-a/meshctl-ebpf: spec.template.spec.containers[0].securityContext.privileged: Forbidden",
    );
    const found = await meshctl(["uninstall", "--dry-run", "-n", "mcc-a", "--json"]);
    expect(
      (JSON.parse(found.stdout) as { objects: { kind: string }[] }).objects.map((o) => o.kind),
    ).not.toContain("DaemonSet");
  });

  test("uninstall --dry-run shows, uninstall deletes, a second uninstall has nothing to delete", async () => {
    const dry = await meshctl(["uninstall", "--dry-run", "-n", "mcc-a"]);
    expect(dry.error).toBeUndefined();
    expect(dry.stdout).toMatch(/^ {2}would delete +Deployment mcc-a\/meshctl-xds$/m);
    expect(dry.stdout.trimEnd().split("\n").at(-1)).toBe("Would delete 7 objects.");

    const done = await meshctl(["uninstall", "-n", "mcc-a", "--json"]);
    expect(done.error).toBeUndefined();
    const result = JSON.parse(done.stdout) as { objects: { kind: string; action: string }[] };
    const validate = schema("uninstall");
    expect(validate(result), JSON.stringify(validate.errors)).toBe(true);
    expect(result.objects.map((o) => `${o.kind}:${o.action}`)).toEqual([
      "Deployment:deleted",
      "Service:deleted",
      "ConfigMap:deleted",
      "ClusterRoleBinding:deleted",
      "ClusterRole:deleted",
      "ServiceAccount:deleted",
      "Namespace:deleted",
    ]);

    const again = await meshctl(["uninstall", "-n", "mcc-a"]);
    expect(again.stdout).toMatch(/^ {2}terminating +Namespace mcc-a {2}\(already being deleted\)$/m);
    expect(again.stdout.trimEnd().split("\n").at(-1)).toBe(
      "Nothing to delete: what is left is listed above with the reason.",
    );
  });
});
