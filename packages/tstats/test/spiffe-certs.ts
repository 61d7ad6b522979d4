// Test helper: a throwaway CA and SPIFFE workload certificates made with openssl.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "@meshctl/core";

export interface WorkloadCert {
  readonly key: Buffer;
  readonly cert: Buffer;
}

export interface SpiffeCerts {
  readonly ca: Buffer;
  issue(name: string, spiffeId: string): Promise<WorkloadCert>;
  cleanup(): Promise<void>;
}

export async function createSpiffeCerts(): Promise<SpiffeCerts> {
  const dir = await mkdtemp(join(tmpdir(), "mct-tstats-certs-"));
  const ossl = (args: string[]) => runCommand("openssl", args, { timeoutMs: 20_000 });
  await ossl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=mct-test-ca",
    "-keyout",
    join(dir, "ca.key"),
    "-out",
    join(dir, "ca.crt"),
  ]);
  return {
    ca: await readFile(join(dir, "ca.crt")),
    async issue(name, spiffeId) {
      const base = join(dir, name);
      await writeFile(
        `${base}.ext`,
        `subjectAltName=URI:${spiffeId},DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n`,
      );
      await ossl([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        `/CN=${name}`,
        "-keyout",
        `${base}.key`,
        "-out",
        `${base}.csr`,
      ]);
      await ossl([
        "x509",
        "-req",
        "-in",
        `${base}.csr`,
        "-CA",
        join(dir, "ca.crt"),
        "-CAkey",
        join(dir, "ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        `${base}.ext`,
        "-out",
        `${base}.crt`,
      ]);
      return { key: await readFile(`${base}.key`), cert: await readFile(`${base}.crt`) };
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
