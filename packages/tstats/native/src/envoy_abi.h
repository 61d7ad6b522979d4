/*
 * envoy_abi.h -- the part of Envoy 1.40's dynamic-module C ABI (ABI version v0.2.0) that the tstats
 * module uses. Our own declarations, not a copy of Envoy's abi.h: written from Envoy's public
 * source/extensions/dynamic_modules/abi/abi.h and the HTTP filter's abi_impl.cc, and checked
 * against the stock 1.40.0 binary (exported symbol names via `nm -D`; argument order of the
 * metric callbacks from its disassembly; the version string from Envoy's own
 * "Dynamic module ABI version v0.2.0 matched." log line). The integration test loads the module
 * into the installed Envoy and checks every metric it records, so a drift fails CI.
 *
 * x86-64/aarch64 note: a {ptr,len} struct passed by value occupies two integer registers.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSTATS_ENVOY_ABI_VERSION "v0.2.0"

typedef const void* envoy_http_filter_config_envoy_ptr;
typedef const void* envoy_http_filter_config_module_ptr;
typedef void* envoy_http_filter_envoy_ptr;
typedef const void* envoy_http_filter_module_ptr;

typedef struct { const char* ptr; size_t length; } envoy_envoy_buffer;  /* owned by Envoy  */
typedef struct { const char* ptr; size_t length; } envoy_module_buffer; /* owned by module */

typedef enum {
  envoy_header_request = 0,
  envoy_header_request_trailer = 1,
  envoy_header_response = 2,
  envoy_header_response_trailer = 3,
} envoy_header_type;

typedef enum {
  envoy_metrics_result_Success = 0,
  envoy_metrics_result_MetricNotFound = 1,
  envoy_metrics_result_InvalidLabels = 2,
  envoy_metrics_result_Frozen = 3,
} envoy_metrics_result;

/* Attribute ids (Envoy's attribute names in comments); the enum starts at request.path = 0. */
enum {
  envoy_attribute_request_total_size = 14, /* request.total_size: headers + body bytes */
  envoy_attribute_response_total_size = 22, /* response.total_size */
};

typedef enum { envoy_log_debug = 1, envoy_log_error = 4 } envoy_log_level;

/* Every header/body/trailer hook returns 0 for "Continue". */
typedef int envoy_filter_status;
#define ENVOY_FILTER_CONTINUE 0

void envoy_dynamic_module_callback_log(envoy_log_level level, envoy_module_buffer message);

envoy_metrics_result envoy_dynamic_module_callback_http_filter_config_define_counter(
    envoy_http_filter_config_envoy_ptr config, envoy_module_buffer name,
    envoy_module_buffer* label_names, size_t label_names_length, size_t* counter_id);
envoy_metrics_result envoy_dynamic_module_callback_http_filter_config_define_histogram(
    envoy_http_filter_config_envoy_ptr config, envoy_module_buffer name,
    envoy_module_buffer* label_names, size_t label_names_length, size_t* histogram_id);

envoy_metrics_result envoy_dynamic_module_callback_http_filter_increment_counter(
    envoy_http_filter_envoy_ptr filter, size_t counter_id, envoy_module_buffer* label_values,
    size_t label_values_length, uint64_t value);
envoy_metrics_result envoy_dynamic_module_callback_http_filter_record_histogram_value(
    envoy_http_filter_envoy_ptr filter, size_t histogram_id, envoy_module_buffer* label_values,
    size_t label_values_length, uint64_t value);

/* The value at `index` of header `key`; optional_size receives the number of values. */
bool envoy_dynamic_module_callback_http_get_header(envoy_http_filter_envoy_ptr filter,
                                                   envoy_header_type type, envoy_module_buffer key,
                                                   envoy_envoy_buffer* result, size_t index,
                                                   size_t* optional_size);
/* Replaces every value of `key`; a {NULL,0} value removes the header. */
bool envoy_dynamic_module_callback_http_set_header(envoy_http_filter_envoy_ptr filter,
                                                   envoy_header_type type, envoy_module_buffer key,
                                                   envoy_module_buffer value);

bool envoy_dynamic_module_callback_http_filter_get_attribute_int(envoy_http_filter_envoy_ptr filter,
                                                                 int attribute_id, uint64_t* result);
