export {
  EXIT_CODES,
  type ErrorKind,
  MeshctlError,
  type MeshctlErrorOptions,
  errorMessage,
  isMeshctlError,
  notAvailableYet,
} from "./errors.js";
export { ExternalCommandError, type SpawnedProgram, type RunOptions, type RunResult, findProgram, runCommand, runJson, spawnProgram } from "./exec.js";
export { type TraceSink, type Tracer, createTracer, setTraceSink } from "./trace.js";
