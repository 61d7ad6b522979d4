import { readFile } from "node:fs/promises";
import { describe, expect, test } from "vitest";
import { formatConfigIssue } from "../src/config/startup-conf.js";
import { parseVclConf, renderVclConf, type VclConf, validateVclConf } from "../src/config/vcl-conf.js";
import { fixture } from "./fixtures-path.js";

// Envoy's vcl.rst load-test vcl.conf, one option per line as VCL requires.
const ENVOY_VCL_CONF = `vcl {
  rx-fifo-size 400000
  tx-fifo-size 400000
  segment-size 1000000000
  app-scope-global
  app-scope-local
  app-socket-api /var/run/vpp/app_ns_sockets/default
  use-mq-eventfd
  event-queue-size 40000
}
`;

describe("parseVclConf", () => {
  test("Envoy's documented vcl.conf", () => {
    const { config, issues } = parseVclConf(ENVOY_VCL_CONF);
    expect(issues).toEqual([]);
    expect(config).toEqual({
      rxFifoSize: 400000,
      txFifoSize: 400000,
      segmentSize: 1000000000,
      appScopeGlobal: true,
      appScopeLocal: true,
      appSocketApi: "/var/run/vpp/app_ns_sockets/default",
      useMqEventfd: true,
      eventQueueSize: 40000,
    });
  });

  test.each(["vcl-server.conf", "vcl-client.conf", "vcl-cut-thru.conf"])("recorded %s", async (name) => {
    const { config, issues } = parseVclConf(await readFile(fixture("config", name), "utf8"), { file: name });
    expect(issues.filter((i) => i.severity === "error")).toEqual([]);
    expect(config.rxFifoSize).toBe(4000000);
    // These latency-run configs lack use-mq-eventfd: sockperf spins anyway, a sidecar must not.
    expect(issues.map((i) => i.message).join("\n")).toMatch(/use-mq-eventfd/);
  });

  test("namespace id and secret", async () => {
    const { config } = parseVclConf(await readFile(fixture("config", "vcl-server.conf"), "utf8"));
    expect(config).toMatchObject({
      namespaceId: "1",
      namespaceSecret: "1234",
      appSocketApi: "/run/vpp/app_ns_sockets/1",
    });
  });

  test("the one-line form VCL silently ignores is an error on the right line", () => {
    const { issues, valid } = parseVclConf("# sidecar\nvcl { rx-fifo-size 400000 use-mq-eventfd }\n");
    expect(valid).toBe(false);
    expect(issues[0]).toMatchObject({ line: 2, severity: "error" });
  });

  test("two options on one line", () => {
    const { issues } = parseVclConf("vcl {\n  use-mq-eventfd app-scope-local\n}\n", { file: "vcl.conf" });
    expect(issues.filter((i) => i.severity === "error").map(formatConfigIssue)).toEqual([
      "vcl.conf:2: error: vcl.use-mq-eventfd: VCL reads one option per line; `app-scope-local` after `use-mq-eventfd` is ignored",
    ]);
  });

  test("a size suffix on a %u option would be read as a tiny number", () => {
    const { issues } = parseVclConf("vcl {\n  rx-fifo-size 4m\n  use-mq-eventfd\n}\n");
    expect(issues.find((i) => i.severity === "error")).toMatchObject({ line: 2, path: "vcl.rx-fifo-size" });
    expect(issues.find((i) => i.severity === "error")!.message).toMatch(/read it as 4/);
  });

  test("heapsize needs an m or g suffix; hex sizes are accepted", () => {
    expect(parseVclConf("vcl {\nheapsize 512\n}\n").valid).toBe(false);
    const ok = parseVclConf("vcl {\nheapsize 512M\nsegment-size 0x10000000\nuse-mq-eventfd\n}\n");
    expect(ok.valid).toBe(true);
    expect(ok.config).toMatchObject({ heapsize: "512M", segmentSize: 0x10000000 });
  });

  test("unknown options, text outside the block, comments", () => {
    const { issues } = parseVclConf(
      "junk\nvcl {\n  # comment\n  use-mq-eventfd # trailing comment\n  rx-fifo 1\n}\nafter\n",
    );
    expect(issues.map((i) => [i.line, i.severity])).toEqual([
      [1, "warning"],
      [5, "error"],
      [7, "warning"],
      [undefined, "warning"],
    ]);
  });

  test("no vcl block at all", () => {
    expect(parseVclConf("").valid).toBe(false);
  });
});

describe("renderVclConf", () => {
  const models: VclConf[] = [
    parseVclConf(ENVOY_VCL_CONF).config,
    {
      heapsize: "1g",
      maxWorkers: 32,
      multiThreadWorkers: true,
      useMqEventfd: true,
      appTimeout: 1.5,
      namespaceId: "ns",
      namespaceSecret: "18446744073709551615",
      tlsEngine: 1,
      appOriginalDst: true,
      hugePage: true,
      uid: 0,
      gid: 0,
    },
  ];
  test.each(models.map((m, i) => [i, m] as const))("model %i: parse(render(x)) = x", (_, model) => {
    const text = renderVclConf(model);
    expect(text.split("\n")[0]).toBe("vcl {");
    expect(parseVclConf(text).config).toEqual(model);
  });

  test("validateVclConf flags bad model values", () => {
    expect(
      validateVclConf({ rxFifoSize: 2 ** 33, useMqEventfd: true, appSocketApi: "/x" })
        .filter((i) => i.severity === "error")
        .map((i) => i.path),
    ).toEqual(["vcl.rx-fifo-size"]);
  });
});
