/*
 * tstats native probe: a minimal Envoy 1.40 dynamic-module HTTP filter in plain C.
 * It defines two counters at filter-config time (metric creation is frozen afterwards) and
 * bumps them once per request:
 *   tstats_probe_requests_total                    (no labels)
 *   tstats_probe_requests_by_reporter{reporter=..} (one label; value from the filter config)
 * Every other mandatory hook is a no-op that lets the stream continue.
 */
#include <stdlib.h>
#include <string.h>

#include "abi_subset.h"

#define EXPORT __attribute__((visibility("default")))

typedef struct {
  size_t requests_total_id;
  size_t requests_by_reporter_id;
  char reporter[64];
  size_t reporter_len;
} probe_config;

typedef struct {
  const probe_config* config;
} probe_filter;

static envoy_module_buffer buf(const char* s) { return (envoy_module_buffer){s, strlen(s)}; }

EXPORT const char* envoy_dynamic_module_on_program_init(void) { return TSTATS_ENVOY_ABI_VERSION; }

EXPORT envoy_http_filter_config_module_ptr envoy_dynamic_module_on_http_filter_config_new(
    envoy_http_filter_config_envoy_ptr config_envoy, envoy_envoy_buffer name,
    envoy_envoy_buffer config_bytes) {
  (void)name;
  probe_config* c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  /* filter_config is a google.protobuf.StringValue: Envoy hands the module the raw string. */
  c->reporter_len = config_bytes.length < sizeof(c->reporter) - 1 ? config_bytes.length
                                                                  : sizeof(c->reporter) - 1;
  if (c->reporter_len == 0) {
    strcpy(c->reporter, "probe");
    c->reporter_len = 5;
  } else {
    memcpy(c->reporter, config_bytes.ptr, c->reporter_len);
  }
  if (envoy_dynamic_module_callback_http_filter_config_define_counter(
          config_envoy, buf("tstats_probe_requests_total"), NULL, 0, &c->requests_total_id) !=
      envoy_metrics_result_Success) {
    free(c);
    return NULL; /* Envoy rejects the config: "Failed to initialize dynamic module" */
  }
  envoy_module_buffer label_names[1] = {buf("reporter")};
  if (envoy_dynamic_module_callback_http_filter_config_define_counter(
          config_envoy, buf("tstats_probe_requests_by_reporter"), label_names, 1,
          &c->requests_by_reporter_id) != envoy_metrics_result_Success) {
    free(c);
    return NULL;
  }
  return c;
}

EXPORT void envoy_dynamic_module_on_http_filter_config_destroy(envoy_http_filter_config_module_ptr c) {
  free((void*)c);
}

EXPORT envoy_http_filter_module_ptr envoy_dynamic_module_on_http_filter_new(
    envoy_http_filter_config_module_ptr config, envoy_http_filter_envoy_ptr filter_envoy) {
  (void)filter_envoy;
  probe_filter* f = malloc(sizeof(*f));
  if (f == NULL) return NULL;
  f->config = config;
  return f;
}

EXPORT envoy_filter_status envoy_dynamic_module_on_http_filter_request_headers(
    envoy_http_filter_envoy_ptr filter_envoy, envoy_http_filter_module_ptr filter_module,
    bool end_of_stream) {
  (void)end_of_stream;
  const probe_filter* f = filter_module;
  envoy_dynamic_module_callback_http_filter_increment_counter(
      filter_envoy, f->config->requests_total_id, NULL, 0, 1);
  envoy_module_buffer label_values[1] = {{f->config->reporter, f->config->reporter_len}};
  envoy_dynamic_module_callback_http_filter_increment_counter(
      filter_envoy, f->config->requests_by_reporter_id, label_values, 1, 1);
  return ENVOY_FILTER_CONTINUE;
}

/* The remaining mandatory hooks: continue / do nothing. Extra trailing args are ignored. */
#define CONTINUE_HOOK(n) \
  EXPORT envoy_filter_status envoy_dynamic_module_on_http_filter_##n(void* a, void* b, bool c) { \
    (void)a; (void)b; (void)c; return ENVOY_FILTER_CONTINUE; }
CONTINUE_HOOK(request_body)
CONTINUE_HOOK(request_trailers)
CONTINUE_HOOK(response_headers)
CONTINUE_HOOK(response_body)
CONTINUE_HOOK(response_trailers)

#define NOOP_HOOK(n) EXPORT void envoy_dynamic_module_on_http_filter_##n(void) {}
NOOP_HOOK(stream_complete)
NOOP_HOOK(http_callout_done)
NOOP_HOOK(http_stream_headers)
NOOP_HOOK(http_stream_data)
NOOP_HOOK(http_stream_trailers)
NOOP_HOOK(http_stream_complete)
NOOP_HOOK(http_stream_reset)
NOOP_HOOK(scheduled)
NOOP_HOOK(downstream_above_write_buffer_high_watermark)
NOOP_HOOK(downstream_below_write_buffer_low_watermark)

EXPORT void envoy_dynamic_module_on_http_filter_destroy(envoy_http_filter_module_ptr f) {
  free((void*)f);
}
