/*
 * abi_subset.h -- the handful of declarations of Envoy 1.40's dynamic-module C ABI that the
 * tstats native probe uses, written for this probe (not a copy of Envoy's abi.h).
 *
 * Checked against: Envoy's source/extensions/dynamic_modules/abi/abi.h + the HTTP filter's
 * abi_impl.cc / filter_config.cc (public source, read through the code index), and against the
 * stock binary itself: the symbols below are exported by /usr/local/bin/envoy 1.40.0
 * (nm -D), and the argument registers of define_counter / increment_counter were read from its
 * disassembly (see README.md). The ABI version string is confirmed by Envoy's own log line
 * "Dynamic module ABI version <v> matched." at load time.
 *
 * x86-64 SysV note: a {ptr,len} struct passed by value occupies two integer registers, exactly
 * like a (ptr, len) argument pair.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef TSTATS_ENVOY_ABI_VERSION
#define TSTATS_ENVOY_ABI_VERSION "v0.2.0"
#endif

typedef const void* envoy_http_filter_config_envoy_ptr; /* DynamicModuleHttpFilterConfig*  */
typedef const void* envoy_http_filter_config_module_ptr;
typedef void* envoy_http_filter_envoy_ptr;              /* DynamicModuleHttpFilter*        */
typedef const void* envoy_http_filter_module_ptr;

typedef struct { const char* ptr; size_t length; } envoy_envoy_buffer;  /* owned by Envoy  */
typedef struct { const char* ptr; size_t length; } envoy_module_buffer; /* owned by module */

typedef enum {
  envoy_metrics_result_Success = 0,
  envoy_metrics_result_MetricNotFound = 1,
  envoy_metrics_result_InvalidLabels = 2,
  envoy_metrics_result_Frozen = 3,
} envoy_metrics_result;

/* Return values of the header/body/trailer hooks: 0 is "Continue" in every one of them. */
typedef int envoy_filter_status;
#define ENVOY_FILTER_CONTINUE 0

/* ---- Callbacks implemented by Envoy (resolved from the envoy binary at dlopen time) ---- */
envoy_metrics_result envoy_dynamic_module_callback_http_filter_config_define_counter(
    envoy_http_filter_config_envoy_ptr config, envoy_module_buffer name,
    envoy_module_buffer* label_names, size_t label_names_length, size_t* counter_id);

envoy_metrics_result envoy_dynamic_module_callback_http_filter_increment_counter(
    envoy_http_filter_envoy_ptr filter, size_t counter_id, envoy_module_buffer* label_values,
    size_t label_values_length, uint64_t value);
