import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, test } from "vitest";
import { parseIstioIptablesArgs, podFactOf } from "./pod-facts.js";

describe("parseIstioIptablesArgs", () => {
  test("short flags as Istio's injector writes them", () => {
    const c = parseIstioIptablesArgs(
      [
        "istio-iptables",
        "-p",
        "15001",
        "-z",
        "15006",
        "-u",
        "1337",
        "-m",
        "REDIRECT",
        "-i",
        "*",
        "-x",
        "",
        "-b",
        "*",
      ],
      {},
      ["NET_ADMIN", "NET_RAW"],
    );
    expect(c).toMatchObject({
      outboundPort: "15001",
      inboundPort: "15006",
      proxyUid: "1337",
      mode: "REDIRECT",
      outboundCidrs: "*",
      inboundPorts: "*",
      capabilities: ["NET_ADMIN", "NET_RAW"],
    });
  });

  test("long flags with =, an empty -b (no inbound capture), env fallback", () => {
    const c = parseIstioIptablesArgs(
      ["istio-iptables", "--envoy-port=15001", "--istio-inbound-ports", "", "-m", "TPROXY"],
      { ISTIO_SERVICE_CIDR: "10.0.0.0/8" },
    );
    expect(c).toMatchObject({
      outboundPort: "15001",
      inboundPorts: "",
      mode: "TPROXY",
      outboundCidrs: "10.0.0.0/8",
    });
    expect(c.inboundPort).toBeNull();
  });
});

describe("podFactOf", () => {
  test("proxyless gRPC from Istio's grpc-agent template: agent container plus bootstrap env", () => {
    const pod: V1Pod = {
      metadata: {
        name: "g",
        namespace: "shop",
        labels: { app: "g" },
        annotations: { "inject.istio.io/templates": "grpc-agent" },
      },
      spec: {
        containers: [
          {
            name: "app",
            env: [{ name: "GRPC_XDS_BOOTSTRAP", value: "/etc/istio/proxy/grpc-bootstrap.json" }],
          },
          { name: "istio-proxy", image: "proxyv2" },
        ],
      },
      status: { phase: "Running", podIP: "10.1.2.3", conditions: [{ type: "Ready", status: "True" }] },
    };
    expect(podFactOf(pod)).toMatchObject({
      ready: true,
      podIp: "10.1.2.3",
      injectTemplates: "grpc-agent",
      sidecar: { image: "proxyv2", native: false },
      proxylessBootstrap: "GRPC_XDS_BOOTSTRAP in container app",
      istioInit: null,
      cniValidation: false,
    });
  });

  test("istio-cni: an istio-validation init container and no istio-init", () => {
    const pod: V1Pod = {
      metadata: { name: "c", namespace: "shop", labels: { "sidecar.istio.io/inject": "true" } },
      spec: {
        initContainers: [{ name: "istio-validation", args: ["istio-iptables", "--run-validation"] }],
        containers: [{ name: "app" }, { name: "istio-proxy" }],
      },
    };
    expect(podFactOf(pod)).toMatchObject({
      cniValidation: true,
      istioInit: null,
      injectOverride: "true",
      ready: false,
    });
  });
});
