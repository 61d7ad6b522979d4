import { ENVOY_ADMIN_PORT, envoyArgv, podCommand } from "@meshctl/pod";
import { nodeIdFor, renderConfigDump } from "@meshctl/xds";
import { describe, expect, test } from "vitest";
import { planLab, podOf } from "./plan.js";
import { LAB_XDS_PORT, labEnvoyBootstrap, labIdOfEnvoyShm, labSidecarMeshObjects } from "./sidecar.js";

describe("Envoy sidecar of a planned pod", () => {
  const plan = planLab({ id: "1a2b", scenarios: ["direct", "sidecar", "sidecar-ebpf"], cgroupRoot: "/cg" });
  const client = podOf(plan, "sidecar", "client");
  const server = podOf(plan, "sidecar-ebpf", "server");

  test("the bootstrap names the pod by IP and points at the pod-local control plane", async () => {
    const bootstrap = (await labEnvoyBootstrap(client)) as {
      node: { id: string; metadata: Record<string, unknown> };
      admin: { address: { socket_address: { address: string; port_value: number } } };
      static_resources: {
        clusters: {
          name: string;
          load_assignment: {
            endpoints: { lb_endpoints: { endpoint: { address: { socket_address: unknown } } }[] }[];
          };
        }[];
      };
    };
    expect(client.ip).toBe("10.213.200.21");
    expect(bootstrap.node.id).toBe("sidecar~10.213.200.21~sidecar-client.mcl-lab~mcl-lab.svc.cluster.local");
    expect(bootstrap.node.metadata).toMatchObject({ INSTANCE_IPS: client.ip, NAMESPACE: "mcl-lab" });
    expect(bootstrap.admin.address.socket_address).toEqual({
      address: "127.0.0.1",
      port_value: ENVOY_ADMIN_PORT,
    });
    const xds = bootstrap.static_resources.clusters.find((c) => c.name === "xds-grpc");
    expect(xds?.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address).toEqual({
      address: "127.0.0.1",
      port_value: LAB_XDS_PORT,
    });
  });

  test("server pods get their own identity", async () => {
    const bootstrap = (await labEnvoyBootstrap(server)) as { node: { id: string } };
    expect(bootstrap.node.id).toBe(
      `sidecar~${server.ip}~sidecar-ebpf-server.mcl-lab~mcl-lab.svc.cluster.local`,
    );
  });

  test("the command line runs envoy as the sidecar uid inside the pod", () => {
    const argv = envoyArgv("/tmp/mcl-lab-1a2b/sidecar-client.envoy.json", 2);
    expect(argv).toEqual([
      "envoy",
      "-c",
      "/tmp/mcl-lab-1a2b/sidecar-client.envoy.json",
      "--disable-hot-restart",
      "--log-level",
      "warn",
      "--concurrency",
      "2",
    ]);
    const { command, args } = podCommand(client, argv, { asSidecar: true });
    expect(command).toBe("sh");
    expect(args.slice(3, 5)).toEqual([client.cgroup, client.netns]);
    expect(args.slice(5)).toEqual([
      "setpriv",
      "--reuid=1337",
      "--regid=1337",
      "--clear-groups",
      "--",
      ...argv,
    ]);
  });

  // Oracle from Envoy: HotRestartImpl names its shm_open segment envoy_shared_memory_<base id × 10>
  // (Envoy 1.40 with --base-id 999991 made envoy_shared_memory_9999910), and the base ids lab runs
  // used before hot restart was disabled: lab id × 16 + pod index + 1.
  test("shared memory of earlier lab Envoys maps back to its lab; other names do not", () => {
    expect(labIdOfEnvoyShm("envoy_shared_memory_1071880")).toBe("1a2b"); // base id 107188, pod 3
    expect(labIdOfEnvoyShm("envoy_shared_memory_10")).toBe("0000"); // lab 0000, pod 0
    expect(labIdOfEnvoyShm("envoy_shared_memory_10485760")).toBe("ffff"); // lab ffff, pod 15
    expect(labIdOfEnvoyShm("envoy_shared_memory_10485770")).toBeUndefined(); // past lab ffff
    expect(labIdOfEnvoyShm("envoy_shared_memory_0")).toBeUndefined(); // Envoy's default base id
    expect(labIdOfEnvoyShm("envoy_shared_memory_1071881")).toBeUndefined(); // not a base id × 10
    expect(labIdOfEnvoyShm("envoy_shared_memory_01071880")).toBeUndefined();
    expect(labIdOfEnvoyShm("envoy_shared_memory_1071880.lock")).toBeUndefined();
    expect(labIdOfEnvoyShm("mcl-lab-1a2b")).toBeUndefined();
  });
});

describe("the sidecars' mesh model, through meshctl's xDS generator", () => {
  const plan = planLab({ id: "0c0d", scenarios: ["direct", "sidecar", "sidecar-ebpf"], cgroupRoot: "/cg" });
  const dump = async (
    mode: "http" | "tcp",
    scenario: "sidecar" | "sidecar-ebpf",
    role: "client" | "server",
  ) => {
    const pod = podOf(plan, scenario, role);
    const result = await renderConfigDump({
      objects: labSidecarMeshObjects(plan, mode),
      nodeId: nodeIdFor("envoy", `${scenario}-${role}`, "mcl-lab", pod.ip),
    });
    const names = (kind: "lds" | "cds" | "rds") => (result.types[kind]?.resources ?? []).map((r) => r.name);
    return { result, names };
  };

  test("every sidecar gets the capture listeners and no diagnostics", async () => {
    const { result, names } = await dump("http", "sidecar", "client");
    expect(result.diagnostics ?? []).toEqual([]);
    expect(names("lds")).toEqual(expect.arrayContaining(["virtualOutbound", "virtualInbound"]));
    expect(names("cds")).toContain("PassthroughCluster");
  });

  test("a server sidecar gets an inbound cluster for its app; the other scenario's server does not leak in", async () => {
    const { names } = await dump("http", "sidecar-ebpf", "server");
    expect(names("cds")).toContain("inbound|8080||");
    expect(names("cds")).toContain("outbound|8080||echo-sidecar.mcl-lab.svc.cluster.local");
    const client = await dump("http", "sidecar", "client");
    expect(client.names("cds")).not.toContain("inbound|8080||");
  });

  test("the client's route for port 8080 passes unknown hosts (the server IP) through", async () => {
    const { result } = await dump("http", "sidecar", "client");
    const route = result.types.rds?.resources.find((r) => r.name === "8080")?.resource as
      | { virtual_hosts: { name: string; domains: string[] }[] }
      | undefined;
    expect(route?.virtual_hosts.map((v) => v.name)).toContain("allow_any");
    expect(route?.virtual_hosts.find((v) => v.name === "allow_any")?.domains).toEqual(["*"]);
  });

  test("tcp mode makes the port opaque: no HTTP route", async () => {
    const { names } = await dump("tcp", "sidecar", "client");
    expect(names("rds")).not.toContain("8080");
  });
});
