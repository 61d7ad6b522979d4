export { ALLOCATOR_ENV, allocatorEnv } from "./allocator.js";
export {
  type ErrorKind,
  EXIT_CODES,
  errorMessage,
  isMeshctlError,
  MeshctlError,
  type MeshctlErrorOptions,
  notAvailableYet,
} from "./errors.js";
export {
  ExternalCommandError,
  findProgram,
  type RunOptions,
  type RunResult,
  runCommand,
  runJson,
  type SpawnedProgram,
  spawnProgram,
} from "./exec.js";
export { createTracer, setTraceSink, type Tracer, type TraceSink } from "./trace.js";
