// @meshctl/xds/testing: helpers for tests and labs (echo servers, mesh fixtures, raw ADS clients).
export {
  type AdsTestClient,
  connectAdsTestClient,
  type DeltaResponse,
  type SotwResponse,
} from "./ads-client.js";
export {
  createEchoClient,
  ECHO_SERVICE,
  type EchoClient,
  type EchoReply,
  type EchoServer,
  type EchoServerOptions,
  registerXdsResolver,
  startEchoServer,
} from "./echo.js";
export {
  destinationRule,
  endpointSlice,
  k8sService,
  toYaml,
  virtualService,
  writeMeshFiles,
} from "./mesh-fixture.js";
export { waitFor } from "./wait-for.js";
