// A proxyless gRPC client routed by meshctl's xDS control plane, in plain Node with the stock
// @grpc/grpc-js and @grpc/grpc-js-xds packages. With the embedded example mesh (docs/xds.md §2):
//
//   meshctl xds serve &                                          # ADS on 127.0.0.1:15010
//   meshctl bench server --protocol grpc --port 50051 &          # echo v1 of the example mesh
//   meshctl bench server --protocol grpc --port 50052 &          # echo v2
//   meshctl xds bootstrap --kind grpc --name client-1 --namespace demo > bootstrap.json
//   GRPC_XDS_BOOTSTRAP=$PWD/bootstrap.json node packages/xds/examples/proxyless-client.mjs
//
// Arguments: [target] [calls]; default xds:///echo.demo.svc.cluster.local:7070 and 10 calls.
// It calls the bench echo service (`/meshctl.bench.v1.Echo/Echo`, bytes field 1 echoed back) and
// prints one line per call with the port that answered: the 90/10 canary of the example mesh.
import * as grpc from "@grpc/grpc-js";
import * as xds from "@grpc/grpc-js-xds";

xds.register();

const target = process.argv[2] ?? "xds:///echo.demo.svc.cluster.local:7070";
const calls = Number(process.argv[3] ?? 10);

/** Protobuf field 1 (bytes), the whole message of the bench echo service. */
const encode = (payload) => {
  const lengthBytes = [];
  let n = payload.length;
  do {
    lengthBytes.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x0a, ...lengthBytes]), payload]);
};
const identity = (bytes) => bytes;

const Echo = grpc.makeGenericClientConstructor(
  {
    Echo: {
      path: "/meshctl.bench.v1.Echo/Echo",
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  "Echo",
);
const client = new Echo(target, grpc.credentials.createInsecure());

let failed = 0;
for (let i = 0; i < calls; i++) {
  const peer = await new Promise((resolve) => {
    const call = client.Echo(encode(Buffer.from(`hello ${i}`)), { deadline: Date.now() + 5000 }, (error) =>
      resolve(error ? `error: ${error.details || error.message}` : call.getPeer()),
    );
  });
  if (String(peer).startsWith("error")) failed++;
  process.stdout.write(`call ${i + 1}: ${peer}\n`);
}
client.close();
process.exitCode = failed === 0 ? 0 : 1;
