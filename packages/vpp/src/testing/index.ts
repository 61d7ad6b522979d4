// Test helpers of @meshctl/vpp (subpath `@meshctl/vpp/testing`): a fake VPP that replays recorded bytes.
export {
  type FakeVppServer,
  type FakeVppServerOptions,
  loadApiFrames,
  loadCliRecording,
  type ReplayStep,
  startFakeVppServer,
} from "./fake-vpp-server.js";
