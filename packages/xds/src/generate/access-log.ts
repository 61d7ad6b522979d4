/**
 * Envoy access logs for the sidecars' HTTP connection managers and tcp_proxy filters, the way
 * Istio's meshConfig `accessLogFile` / `accessLogFormat` / `accessLogEncoding` configure them:
 * off unless a path is given; TEXT with Istio's default format unless told otherwise; JSON as a
 * field map whose values are Envoy command operators (`%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%`).
 * In JSON, a value that is exactly one command keeps its type (durations are numbers,
 * `%START_TIME(...)%` and `%REQ(...)%` are strings, a missing value is null).
 */
import { MeshctlError } from "@meshctl/core";
import { packAny } from "../protocol/protos.js";
import type { Proto } from "./common.js";

export type AccessLogEncoding = "TEXT" | "JSON";

export interface AccessLogOptions {
  /** The file Envoy appends to, e.g. `/dev/stdout` (Istio's `accessLogFile`). */
  readonly path: string;
  /** `TEXT` (default) or `JSON` (Istio's `accessLogEncoding`). */
  readonly encoding?: AccessLogEncoding;
  /**
   * TEXT: the format string (a newline is added when it has none). JSON: field name -> command
   * operator(s), or the same map as JSON text (Istio's `accessLogFormat`). Default: Istio's format
   * for the encoding.
   */
  readonly format?: string | Readonly<Record<string, string>>;
}

/** Istio's default TEXT access log format (pilot/pkg/model/telemetry_logging.go). */
export const ISTIO_TEXT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" ' +
  '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" ' +
  '"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% ' +
  "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

/** Istio's default JSON access log fields (EnvoyJSONLogFormatIstio). */
export const ISTIO_JSON_ACCESS_LOG_FORMAT: Readonly<Record<string, string>> = Object.freeze({
  start_time: "%START_TIME%",
  route_name: "%ROUTE_NAME%",
  method: "%REQ(:METHOD)%",
  path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
  protocol: "%PROTOCOL%",
  response_code: "%RESPONSE_CODE%",
  response_flags: "%RESPONSE_FLAGS%",
  response_code_details: "%RESPONSE_CODE_DETAILS%",
  connection_termination_details: "%CONNECTION_TERMINATION_DETAILS%",
  bytes_received: "%BYTES_RECEIVED%",
  bytes_sent: "%BYTES_SENT%",
  duration: "%DURATION%",
  upstream_service_time: "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
  x_forwarded_for: "%REQ(X-FORWARDED-FOR)%",
  user_agent: "%REQ(USER-AGENT)%",
  request_id: "%REQ(X-REQUEST-ID)%",
  authority: "%REQ(:AUTHORITY)%",
  upstream_host: "%UPSTREAM_HOST%",
  upstream_cluster: "%UPSTREAM_CLUSTER%",
  upstream_local_address: "%UPSTREAM_LOCAL_ADDRESS%",
  downstream_local_address: "%DOWNSTREAM_LOCAL_ADDRESS%",
  downstream_remote_address: "%DOWNSTREAM_REMOTE_ADDRESS%",
  requested_server_name: "%REQUESTED_SERVER_NAME%",
  upstream_transport_failure_reason: "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
});

export const FILE_ACCESS_LOGGER = "envoy.access_loggers.file";
export const FILE_ACCESS_LOG_TYPE = "envoy.extensions.access_loggers.file.v3.FileAccessLog";

function invalid(message: string, suggestion: string): MeshctlError {
  return new MeshctlError("XDS_ACCESS_LOG_INVALID", message, { kind: "usage", suggestions: [suggestion] });
}

type JsonFormat = { [field: string]: string | JsonFormat };

function checkJsonFormat(value: unknown, path: string): JsonFormat {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw invalid(
      `access log format${path ? ` field ${path}` : ""} must be a JSON object of field names to Envoy commands.`,
      'Write it like {"request_id":"%REQ(X-REQUEST-ID)%","duration_us":"%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%"}.',
    );
  const out: JsonFormat = {};
  for (const [k, v] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    if (typeof v === "string") out[k] = v;
    else if (typeof v === "object" && v !== null && !Array.isArray(v)) out[k] = checkJsonFormat(v, at);
    else
      throw invalid(
        `access log format field ${at} is ${JSON.stringify(v)}: values must be strings (Envoy commands) or nested objects.`,
        `Quote it: "${k}": "%DURATION%".`,
      );
  }
  if (Object.keys(out).length === 0)
    throw invalid(
      `access log format${path ? ` field ${path}` : ""} has no fields.`,
      "Leave the format out for Istio's default fields.",
    );
  return out;
}

// google.protobuf.Struct as protobufjs's bundled definition names its fields (camelCase).
function toStruct(format: JsonFormat): Proto {
  const fields: Record<string, Proto> = {};
  for (const [k, v] of Object.entries(format))
    fields[k] = typeof v === "string" ? { stringValue: v } : { structValue: toStruct(v) };
  return { fields };
}

/**
 * Validates access log options and builds the `envoy.config.accesslog.v3.AccessLog` that goes into
 * every sidecar HTTP connection manager and tcp_proxy. Throws `XDS_ACCESS_LOG_INVALID` (a usage
 * error) for a bad path, encoding or format.
 *
 * @example
 * buildFileAccessLog({ path: "/dev/stdout", encoding: "JSON", format: { id: "%REQ(X-REQUEST-ID)%" } });
 */
export function buildFileAccessLog(options: AccessLogOptions): Proto {
  const path = options.path;
  if (typeof path !== "string" || path.trim() === "" || path.includes("\0"))
    throw invalid(
      `access log path ${JSON.stringify(path)} is not a file path.`,
      "Give a file Envoy can append to, e.g. --access-log-file /dev/stdout.",
    );
  const encoding = options.encoding ?? "TEXT";
  if (encoding !== "TEXT" && encoding !== "JSON")
    throw invalid(
      `access log encoding ${JSON.stringify(encoding)} is not TEXT or JSON.`,
      "Use TEXT or JSON.",
    );
  let logFormat: Proto;
  const format = options.format;
  if (encoding === "TEXT") {
    if (format !== undefined && typeof format !== "string")
      throw invalid(
        "a TEXT access log format is one format string, not a field map.",
        "Pass encoding JSON for a field map, or a string like '%START_TIME% %DURATION%'.",
      );
    const text = format && format.trim() !== "" ? format : ISTIO_TEXT_ACCESS_LOG_FORMAT;
    logFormat = { text_format_source: { inline_string: text.endsWith("\n") ? text : `${text}\n` } };
  } else {
    let parsed: unknown = format ?? ISTIO_JSON_ACCESS_LOG_FORMAT;
    if (typeof format === "string") {
      if (format.trim() === "") parsed = ISTIO_JSON_ACCESS_LOG_FORMAT;
      else
        try {
          parsed = JSON.parse(format);
        } catch (cause) {
          throw invalid(
            `the JSON access log format is not JSON: ${cause instanceof Error ? cause.message : String(cause)}.`,
            'Write it like {"request_id":"%REQ(X-REQUEST-ID)%"} (quote it for the shell).',
          );
        }
    }
    logFormat = { json_format: toStruct(checkJsonFormat(parsed, "")) };
  }
  return {
    name: FILE_ACCESS_LOGGER,
    typed_config: packAny(FILE_ACCESS_LOG_TYPE, { path, log_format: logFormat }),
  };
}
