import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { findProgram, runCommand } from "@meshctl/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { TYPE_URLS } from "../src/index.js";
import { connectAdsTestClient, endpointSlice, k8sService, writeMeshFiles } from "../src/testing/index.js";
import { createLab, type Lab } from "./helpers.js";

const openssl = await findProgram("openssl");
if (!openssl)
  console.warn("[xds tls test] skipped: openssl is not on PATH (needed to create test certificates)");

async function makeCerts(dir: string): Promise<void> {
  const run = (args: string[]) => runCommand("openssl", args, { cwd: dir, timeoutMs: 20_000 });
  await run([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=mcx-test-ca",
  ]);
  for (const [name, ext] of [
    ["server", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
    ["client", "extendedKeyUsage=clientAuth"],
  ] as const) {
    await run([
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=mcx-${name}`,
    ]);
    await writeFile(join(dir, `${name}.ext`), `${ext}\n`);
    await run([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
    ]);
  }
}

describe.skipIf(!openssl)("mTLS for the ADS server", () => {
  let lab: Lab;
  let certDir: string;

  beforeAll(async () => {
    // Certificates live next to the mesh files (in the lab's temp dir, sub-folder ignored by the loader).
    lab = await createLab(
      async (dir) => {
        certDir = join(dir, ".certs");
        await mkdir(certDir, { recursive: true });
        await makeCerts(certDir);
        await writeMeshFiles(dir, {
          "echo.yaml": [
            k8sService({ name: "echo", namespace: "demo", port: 7070 }),
            ...endpointSlice({
              name: "echo",
              namespace: "demo",
              service: "echo",
              endpoints: [{ port: 17070 }],
            }),
          ],
        });
      },
      {
        get tls() {
          return {
            certFile: join(certDir, "server.pem"),
            keyFile: join(certDir, "server.key"),
            clientCaFile: join(certDir, "ca.pem"),
          };
        },
      },
    );
  });
  afterAll(async () => lab?.close());

  test("a client with a certificate from the CA is served", async () => {
    const [ca, key, cert] = await Promise.all(
      ["ca.pem", "client.key", "client.pem"].map((f) => readFile(join(certDir, f))),
    );
    const c = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "sotw",
      nodeId: "grpc~127.0.0.1~a.demo~demo.svc.cluster.local",
      credentials: grpc.credentials.createSsl(ca, key, cert),
    });
    c.send({ type_url: TYPE_URLS.cds, resource_names: ["outbound|7070||echo.demo.svc.cluster.local"] });
    const r = await c.next(5000);
    expect(r.resources.map((x) => x.name)).toEqual(["outbound|7070||echo.demo.svc.cluster.local"]);
    c.close();
  });

  test("a client without a certificate is refused", async () => {
    const ca = await readFile(join(certDir, "ca.pem"));
    const c = await connectAdsTestClient({
      address: lab.xds.address,
      protocol: "sotw",
      nodeId: "grpc~127.0.0.1~b.demo~demo.svc.cluster.local",
      credentials: grpc.credentials.createSsl(ca),
    });
    c.send({ type_url: TYPE_URLS.cds, resource_names: ["outbound|7070||echo.demo.svc.cluster.local"] });
    await expect(c.next(5000)).rejects.toThrow();
    c.close();
  });
});
