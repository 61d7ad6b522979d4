import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

// The dependency direction is part of the design: cli -> lab -> (bench, pod, xds -> kube, ebpf) -> core.
// The load engine (bench) and the pods (pod) depend on core only, so either installs alone.
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  // The Kubernetes source reads the cluster connection and errors of @meshctl/kube.
  xds: ["core", "kube"],
  ebpf: ["core"],
  tstats: ["core"],
  vpp: ["core"],
  // The eBPF/VPP/tstats parts of an install are rendered by the CLI and handed in.
  kube: ["core"],
  bench: ["core"],
  pod: ["core"],
  // The telemetry scenarios load tstats' Envoy filters into the lab's control plane.
  lab: ["core", "bench", "pod", "xds", "ebpf", "tstats"],
  cli: ["core", "xds", "ebpf", "tstats", "vpp", "bench", "kube", "pod", "lab"],
};

/**
 * Every way a source file reaches another package: static `from "@meshctl/x"` (imports and
 * re-exports), dynamic `import("@meshctl/x")` (also `typeof import(...)`) and `require`.
 */
const meshctlImports = /\bfrom\s+["']@meshctl\/([a-z]+)|\b(?:import|require)\s*\(\s*["']@meshctl\/([a-z]+)/g;

const packagesDir = fileURLToPath(new URL("../..", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return name === "generated" ? [] : sourceFiles(full);
    return /\.(ts|tsx)$/.test(name) && !/\.test\.tsx?$|\.test-data\.ts$/.test(name) ? [full] : [];
  });
}

describe("architecture", () => {
  test("the import scanner sees static, dynamic and require imports", () => {
    const sample = [
      'import { a } from "@meshctl/core";',
      'export { b } from "@meshctl/bench";',
      'const x = await import("@meshctl/xds");',
      'let t: typeof import("@meshctl/ebpf");',
      'const r = require( "@meshctl/pod" );',
      'const s = "see @meshctl/vpp in the docs";',
    ].join("\n");
    expect([...sample.matchAll(meshctlImports)].map((m) => m[1] ?? m[2])).toEqual([
      "core",
      "bench",
      "xds",
      "ebpf",
      "pod",
    ]);
  });

  test("the packages are the expected set", () => {
    expect(readdirSync(packagesDir).sort()).toEqual(Object.keys(ALLOWED).sort());
  });

  for (const [name, allowed] of Object.entries(ALLOWED)) {
    test(`@meshctl/${name} depends only on ${allowed.length ? allowed.join(", ") : "nothing of ours"}`, () => {
      const pkg = JSON.parse(readFileSync(join(packagesDir, name, "package.json"), "utf8")) as {
        dependencies?: Record<string, string>;
        exports: Record<string, unknown>;
      };
      const declared = Object.keys(pkg.dependencies ?? {})
        .filter((d) => d.startsWith("@meshctl/"))
        .map((d) => d.slice("@meshctl/".length));
      expect(declared.filter((d) => !allowed.includes(d))).toEqual([]);
      const imported = new Set<string>();
      for (const file of sourceFiles(join(packagesDir, name, "src"))) {
        for (const m of readFileSync(file, "utf8").matchAll(meshctlImports)) imported.add(m[1] ?? m[2] ?? "");
      }
      expect([...imported].filter((d) => !allowed.includes(d))).toEqual([]);
    });

    test(`@meshctl/${name} has one public door: explicit exports, types first`, () => {
      const pkg = JSON.parse(readFileSync(join(packagesDir, name, "package.json"), "utf8")) as {
        exports: Record<string, Record<string, string> | string>;
      };
      const main = pkg.exports["."] as Record<string, string>;
      const keys = Object.keys(main).filter((k) => k !== "@meshctl/source");
      expect(keys[0]).toBe("types");
      const index = readFileSync(join(packagesDir, name, "src", "index.ts"), "utf8");
      expect(index).not.toMatch(/export\s+\*\s+from/);
    });
  }

  test("libraries never exit the process", () => {
    const offenders: string[] = [];
    for (const name of Object.keys(ALLOWED).filter((n) => n !== "cli")) {
      for (const file of sourceFiles(join(packagesDir, name, "src"))) {
        if (/process\.exit\(/.test(readFileSync(file, "utf8")) && !/-main\.ts$/.test(file))
          offenders.push(file);
      }
    }
    expect(offenders).toEqual([]);
  });

  test("every error code raised in a package is listed in docs/errors.md", () => {
    const listed = new Set(
      [
        ...readFileSync(join(packagesDir, "..", "docs", "errors.md"), "utf8").matchAll(
          /`([A-Z][A-Z0-9_]+)`/g,
        ),
      ].map((m) => m[1]),
    );
    const raised = new Set<string>();
    for (const name of Object.keys(ALLOWED))
      for (const file of sourceFiles(join(packagesDir, name, "src")))
        for (const m of readFileSync(file, "utf8").matchAll(/new MeshctlError\(\s*"([A-Z][A-Z0-9_]+)"/g))
          raised.add(m[1] as string);
    expect(raised.size).toBeGreaterThan(50);
    expect([...raised].filter((c) => !listed.has(c)).sort()).toEqual([]);
  });
});
