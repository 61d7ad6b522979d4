/*
 * proxy_wasm_abi.h -- the part of the proxy-wasm ABI v0.2.1 that proxy_wasm_module.c uses,
 * declared for clang's wasm32 target. Written for this adapter from the ABI specification
 * (proxy-wasm/spec, abi-versions/v0.2.1/README.md) and checked against the host side
 * (proxy-wasm-cpp-host src/exports.cc, Envoy source/extensions/common/wasm/context.cc).
 *
 * Every host function lives in the import module "env" and returns a proxy_status_t. All
 * pointers and sizes are i32 (wasm32); metric values are i64. Buffers the host returns through
 * `return_*_data` were allocated by calling the module's proxy_on_memory_allocate export, so the
 * module owns them and must free() them.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define PW_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define PW_EXPORT(name) __attribute__((export_name(#name), visibility("default")))

/* proxy_status_t */
typedef uint32_t pw_status;
enum {
  PW_OK = 0,
  PW_NOT_FOUND = 1,
  PW_BAD_ARGUMENT = 2,
  PW_SERIALIZATION_FAILURE = 3,
  PW_PARSE_FAILURE = 4,
  PW_INVALID_MEMORY_ACCESS = 6,
  PW_EMPTY = 7,
  PW_CAS_MISMATCH = 8,
  PW_INTERNAL_FAILURE = 10,
  PW_UNIMPLEMENTED = 12,
};

/* proxy_log_level_t */
enum { PW_LOG_TRACE = 0, PW_LOG_DEBUG = 1, PW_LOG_INFO = 2, PW_LOG_WARN = 3, PW_LOG_ERROR = 4, PW_LOG_CRITICAL = 5 };

/* proxy_action_t */
enum { PW_ACTION_CONTINUE = 0, PW_ACTION_PAUSE = 1 };

/* proxy_buffer_type_t */
enum {
  PW_BUFFER_HTTP_REQUEST_BODY = 0,
  PW_BUFFER_HTTP_RESPONSE_BODY = 1,
  PW_BUFFER_DOWNSTREAM_DATA = 2,
  PW_BUFFER_UPSTREAM_DATA = 3,
  PW_BUFFER_HTTP_CALL_RESPONSE_BODY = 4,
  PW_BUFFER_GRPC_CALL_MESSAGE = 5,
  PW_BUFFER_VM_CONFIGURATION = 6,
  PW_BUFFER_PLUGIN_CONFIGURATION = 7,
  PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS = 8,
};

/* proxy_map_type_t */
enum {
  PW_MAP_HTTP_REQUEST_HEADERS = 0,
  PW_MAP_HTTP_REQUEST_TRAILERS = 1,
  PW_MAP_HTTP_RESPONSE_HEADERS = 2,
  PW_MAP_HTTP_RESPONSE_TRAILERS = 3,
};

/* proxy_metric_type_t */
enum { PW_METRIC_COUNTER = 0, PW_METRIC_GAUGE = 1, PW_METRIC_HISTOGRAM = 2 };

/* ---------------------------------------------------------------- host functions (imports) */

PW_IMPORT(proxy_log)
pw_status proxy_log(uint32_t level, const char* message_data, size_t message_size);

PW_IMPORT(proxy_get_current_time_nanoseconds)
pw_status proxy_get_current_time_nanoseconds(uint64_t* return_time);

PW_IMPORT(proxy_get_buffer_bytes)
pw_status proxy_get_buffer_bytes(uint32_t buffer_type, size_t start, size_t max_size,
                                 char** return_data, size_t* return_size);

PW_IMPORT(proxy_get_header_map_value)
pw_status proxy_get_header_map_value(uint32_t map_type, const char* key_data, size_t key_size,
                                     char** return_value_data, size_t* return_value_size);

PW_IMPORT(proxy_add_header_map_value)
pw_status proxy_add_header_map_value(uint32_t map_type, const char* key_data, size_t key_size,
                                     const char* value_data, size_t value_size);

PW_IMPORT(proxy_replace_header_map_value)
pw_status proxy_replace_header_map_value(uint32_t map_type, const char* key_data, size_t key_size,
                                         const char* value_data, size_t value_size);

PW_IMPORT(proxy_remove_header_map_value)
pw_status proxy_remove_header_map_value(uint32_t map_type, const char* key_data, size_t key_size);

/* path segments are separated by '\0', e.g. "request\0total_size"; int64 values come back as
 * 8 little-endian bytes (Envoy's serializeValue). */
PW_IMPORT(proxy_get_property)
pw_status proxy_get_property(const char* path_data, size_t path_size, char** return_value_data,
                             size_t* return_value_size);

PW_IMPORT(proxy_define_metric)
pw_status proxy_define_metric(uint32_t metric_type, const char* name_data, size_t name_size,
                              uint32_t* return_metric_id);

PW_IMPORT(proxy_increment_metric)
pw_status proxy_increment_metric(uint32_t metric_id, int64_t delta);

PW_IMPORT(proxy_record_metric)
pw_status proxy_record_metric(uint32_t metric_id, uint64_t value);

/* ---------------------------------------------------------------- module callbacks (exports)
 * Defined in proxy_wasm_module.c with PW_EXPORT; listed here for reference:
 *   void     proxy_abi_version_0_2_1(void)
 *   void*    proxy_on_memory_allocate(size_t size)
 *   void     proxy_on_context_create(uint32_t context_id, uint32_t parent_context_id)
 *   uint32_t proxy_on_vm_start(uint32_t root_context_id, size_t vm_configuration_size)
 *   uint32_t proxy_on_configure(uint32_t root_context_id, size_t plugin_configuration_size)
 *   uint32_t proxy_on_request_headers(uint32_t context_id, size_t num_headers, uint32_t end_of_stream)
 *   uint32_t proxy_on_response_headers(uint32_t context_id, size_t num_headers, uint32_t end_of_stream)
 *   uint32_t proxy_on_response_trailers(uint32_t context_id, size_t num_trailers)
 *   void     proxy_on_log(uint32_t context_id)
 *   uint32_t proxy_on_done(uint32_t context_id)
 *   void     proxy_on_delete(uint32_t context_id)
 */
