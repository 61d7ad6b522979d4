/**
 * The real Envoy/xDS protos, as @grpc/grpc-js-xds (a dev dependency) ships them under deps/: the
 * oracle the tests encode and decode Envoy's own messages with (the package's runtime carries only
 * its small proto subsets).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";

const require = createRequire(import.meta.url);
const depsDir = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
const includeDirs = [
  ...["envoy-api", "xds", "googleapis", "protoc-gen-validate", "cel-spec/proto"].map((d) => join(depsDir, d)),
  // google/protobuf/descriptor.proto (imported by the annotations) ships with protobufjs.
  dirname(require.resolve("protobufjs/package.json")),
];

/**
 * A protobufjs root with `files` (paths under Envoy's api/ tree) and their imports, snake_case.
 *
 * @example
 * const root = loadEnvoyProtos(["envoy/extensions/filters/http/wasm/v3/wasm.proto"]);
 */
export function loadEnvoyProtos(files: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of includeDirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}
