// Public entry of @meshctl/ebpf. Explicit named exports only.

export { type EbpfDaemonSetOptions, renderEbpfDaemonSet } from "./daemonset.js";
export {
  type EbpfSupport,
  findCgroup2Mount,
  MIN_KERNEL,
  type MountEntry,
  parseKernelRelease,
  parseMounts,
  probeEbpfSupport,
} from "./environment.js";
export { type EbpfErrorCode, ebpfError } from "./errors.js";
export {
  type Attachment,
  DEFAULT_BULK_TTL_SECONDS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_STREAM_BYTES,
  DEFAULT_PIN_DIR,
  DEFAULT_RELEASE_TIMEOUT_MS,
  type DisableEbpfOptions,
  type DisableEbpfResult,
  defaultObjectPath,
  disableEbpfAcceleration,
  type EbpfStatus,
  type EnableEbpfOptions,
  type EnableEbpfResult,
  enableEbpfAcceleration,
  type GetEbpfStatusOptions,
  getEbpfStatus,
  type MapInfo,
  type ProgramInfo,
  type VerdictAttachment,
} from "./loader.js";
export {
  type AccelerationConfig,
  type BulkService,
  COUNTER_NAMES,
  type DirectionCounters,
  type EbpfCounters,
  MAP_NAMES,
  PROGRAM_NAMES,
} from "./maps.js";
