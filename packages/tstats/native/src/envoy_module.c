/*
 * envoy_module.c -- tstats as an Envoy dynamic module (native): the HTTP filter that does Istio's
 * metadata exchange and records istio_requests_total, istio_request_duration_milliseconds,
 * istio_request_bytes and istio_response_bytes for both reporters. The logic is tstats_core.c;
 * this file only moves headers, sizes and times between Envoy and the core.
 *
 * Outbound (reporter=source): our metadata goes out on the request; the peer's comes back on the
 * response and is removed there. Inbound (reporter=destination): the peer's metadata arrives on the
 * request and is removed before the app sees it; ours goes out on the response.
 * Metrics are recorded when the stream completes. Envoy names them
 * `<metrics_namespace>.<name>` and /stats/prometheus prints `envoy_<metrics_namespace>_<name>`.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envoy_abi.h"
#include "tstats_core.h"

#define EXPORT __attribute__((visibility("default")))

static const char PEER_METADATA[] = "x-envoy-peer-metadata";
static const char PEER_METADATA_ID[] = "x-envoy-peer-metadata-id";
#define AUTHORITY_MAX 255

typedef struct {
  ts_config* core;
  size_t requests_total, request_duration, request_bytes, response_bytes;
} module_config;

typedef struct {
  const module_config* config;
  const ts_peer* peer;
  uint64_t start_ns;
  uint32_t response_code;
  int grpc;
  char authority[AUTHORITY_MAX + 1];
  size_t authority_len;
  char grpc_status[8];
  size_t grpc_status_len;
} filter_state;

static envoy_module_buffer mbuf(const char* s, size_t n) { return (envoy_module_buffer){s, n}; }
static envoy_module_buffer cbuf(const char* s) { return mbuf(s, strlen(s)); }
static envoy_module_buffer tbuf(ts_str s) { return mbuf(s.ptr, s.len); }

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static ts_str get_header(envoy_http_filter_envoy_ptr f, envoy_header_type type, const char* key) {
  envoy_envoy_buffer out = {NULL, 0};
  if (!envoy_dynamic_module_callback_http_get_header(f, type, cbuf(key), &out, 0, NULL) || out.ptr == NULL)
    return (ts_str){"", 0};
  return (ts_str){out.ptr, out.length};
}

static void remove_header(envoy_http_filter_envoy_ptr f, envoy_header_type type, const char* key) {
  envoy_dynamic_module_callback_http_set_header(f, type, cbuf(key), mbuf(NULL, 0));
}

static void send_own_metadata(envoy_http_filter_envoy_ptr f, const module_config* c, envoy_header_type type) {
  ts_str id = ts_config_node_id(c->core), md = ts_config_metadata(c->core);
  if (id.len) envoy_dynamic_module_callback_http_set_header(f, type, cbuf(PEER_METADATA_ID), tbuf(id));
  if (md.len) envoy_dynamic_module_callback_http_set_header(f, type, cbuf(PEER_METADATA), tbuf(md));
}

static const ts_peer* take_peer_metadata(envoy_http_filter_envoy_ptr f, const module_config* c,
                                         envoy_header_type type, const ts_peer* previous) {
  ts_peer_release(previous); /* a second set of response headers (1xx) replaces the first */
  const ts_peer* peer = ts_peer_lookup(c->core, get_header(f, type, PEER_METADATA));
  remove_header(f, type, PEER_METADATA);
  remove_header(f, type, PEER_METADATA_ID);
  return peer;
}

EXPORT const char* envoy_dynamic_module_on_program_init(void) { return TSTATS_ENVOY_ABI_VERSION; }

static int define(envoy_http_filter_config_envoy_ptr e, const char* name, int histogram, size_t* id) {
  envoy_module_buffer labels[TS_HTTP_LABELS];
  for (size_t i = 0; i < TS_HTTP_LABELS; i++) labels[i] = cbuf(ts_http_label_names[i]);
  envoy_metrics_result r =
      histogram ? envoy_dynamic_module_callback_http_filter_config_define_histogram(e, cbuf(name), labels,
                                                                                    TS_HTTP_LABELS, id)
                : envoy_dynamic_module_callback_http_filter_config_define_counter(e, cbuf(name), labels,
                                                                                  TS_HTTP_LABELS, id);
  return r == envoy_metrics_result_Success ? 0 : -1;
}

EXPORT envoy_http_filter_config_module_ptr envoy_dynamic_module_on_http_filter_config_new(
    envoy_http_filter_config_envoy_ptr config_envoy, envoy_envoy_buffer name, envoy_envoy_buffer config) {
  (void)name;
  char err[256];
  module_config* c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  c->core = ts_config_new(config.ptr, config.length, err, sizeof(err));
  if (c->core == NULL) {
    envoy_dynamic_module_callback_log(envoy_log_error, cbuf(err));
    free(c);
    return NULL; /* Envoy rejects the filter config */
  }
  if (define(config_envoy, TS_METRIC_REQUESTS_TOTAL, 0, &c->requests_total) < 0 ||
      define(config_envoy, TS_METRIC_REQUEST_DURATION, 1, &c->request_duration) < 0 ||
      define(config_envoy, TS_METRIC_REQUEST_BYTES, 1, &c->request_bytes) < 0 ||
      define(config_envoy, TS_METRIC_RESPONSE_BYTES, 1, &c->response_bytes) < 0) {
    envoy_dynamic_module_callback_log(envoy_log_error, cbuf("tstats: Envoy refused to define the istio metrics"));
    ts_config_free(c->core);
    free(c);
    return NULL;
  }
  return c;
}

EXPORT void envoy_dynamic_module_on_http_filter_config_destroy(envoy_http_filter_config_module_ptr p) {
  module_config* c = (module_config*)p;
  ts_config_free(c->core);
  free(c);
}

EXPORT envoy_http_filter_module_ptr envoy_dynamic_module_on_http_filter_new(
    envoy_http_filter_config_module_ptr config, envoy_http_filter_envoy_ptr filter_envoy) {
  (void)filter_envoy;
  filter_state* s = calloc(1, sizeof(*s));
  if (s == NULL) return NULL;
  s->config = config;
  return s;
}

EXPORT envoy_filter_status envoy_dynamic_module_on_http_filter_request_headers(
    envoy_http_filter_envoy_ptr f, envoy_http_filter_module_ptr m, bool end_of_stream) {
  (void)end_of_stream;
  filter_state* s = (filter_state*)m;
  s->start_ns = now_ns();
  ts_str authority = get_header(f, envoy_header_request, ":authority");
  if (authority.len <= AUTHORITY_MAX) {
    memcpy(s->authority, authority.ptr, authority.len);
    s->authority_len = authority.len;
  }
  ts_str ct = get_header(f, envoy_header_request, "content-type");
  s->grpc = ct.len >= 16 && memcmp(ct.ptr, "application/grpc", 16) == 0;
  if (ts_config_is_outbound(s->config->core)) send_own_metadata(f, s->config, envoy_header_request);
  else s->peer = take_peer_metadata(f, s->config, envoy_header_request, s->peer);
  return ENVOY_FILTER_CONTINUE;
}

static void note_grpc_status(filter_state* s, ts_str v) {
  if (v.len && v.len < sizeof(s->grpc_status)) {
    memcpy(s->grpc_status, v.ptr, v.len);
    s->grpc_status_len = v.len;
  }
}

EXPORT envoy_filter_status envoy_dynamic_module_on_http_filter_response_headers(
    envoy_http_filter_envoy_ptr f, envoy_http_filter_module_ptr m, bool end_of_stream) {
  (void)end_of_stream;
  filter_state* s = (filter_state*)m;
  ts_str status = get_header(f, envoy_header_response, ":status");
  uint32_t code = 0;
  for (size_t i = 0; i < status.len && i < 3; i++) code = code * 10 + (uint32_t)(status.ptr[i] - '0');
  s->response_code = code;
  if (s->grpc) note_grpc_status(s, get_header(f, envoy_header_response, "grpc-status"));
  if (ts_config_is_outbound(s->config->core))
    s->peer = take_peer_metadata(f, s->config, envoy_header_response, s->peer);
  else send_own_metadata(f, s->config, envoy_header_response);
  return ENVOY_FILTER_CONTINUE;
}

EXPORT envoy_filter_status envoy_dynamic_module_on_http_filter_response_trailers(envoy_http_filter_envoy_ptr f,
                                                                                 envoy_http_filter_module_ptr m) {
  filter_state* s = (filter_state*)m;
  if (s->grpc) note_grpc_status(s, get_header(f, envoy_header_response_trailer, "grpc-status"));
  return ENVOY_FILTER_CONTINUE;
}

EXPORT void envoy_dynamic_module_on_http_filter_stream_complete(envoy_http_filter_envoy_ptr f,
                                                                envoy_http_filter_module_ptr m) {
  filter_state* s = (filter_state*)m;
  const module_config* c = s->config;
  if (s->start_ns == 0) return; /* never saw request headers */
  ts_http_request r = {
      .authority = {s->authority, s->authority_len},
      .content_type = s->grpc ? (ts_str){"application/grpc", 16} : (ts_str){"", 0},
      .response_code = s->response_code,
      .grpc_status = {s->grpc_status, s->grpc_status_len},
  };
  char scratch[8];
  ts_str labels[TS_HTTP_LABELS];
  ts_http_labels(c->core, s->peer, &r, scratch, labels);
  envoy_module_buffer values[TS_HTTP_LABELS];
  for (size_t i = 0; i < TS_HTTP_LABELS; i++) values[i] = tbuf(labels[i]);
  uint64_t request_size = 0, response_size = 0;
  envoy_dynamic_module_callback_http_filter_get_attribute_int(f, envoy_attribute_request_total_size, &request_size);
  envoy_dynamic_module_callback_http_filter_get_attribute_int(f, envoy_attribute_response_total_size, &response_size);
  uint64_t duration_ms = (now_ns() - s->start_ns) / 1000000ull;
  envoy_dynamic_module_callback_http_filter_increment_counter(f, c->requests_total, values, TS_HTTP_LABELS, 1);
  envoy_dynamic_module_callback_http_filter_record_histogram_value(f, c->request_duration, values, TS_HTTP_LABELS,
                                                                   duration_ms);
  envoy_dynamic_module_callback_http_filter_record_histogram_value(f, c->request_bytes, values, TS_HTTP_LABELS,
                                                                   request_size);
  envoy_dynamic_module_callback_http_filter_record_histogram_value(f, c->response_bytes, values, TS_HTTP_LABELS,
                                                                   response_size);
}

EXPORT void envoy_dynamic_module_on_http_filter_destroy(envoy_http_filter_module_ptr m) {
  filter_state* s = (filter_state*)m;
  ts_peer_release(s->peer);
  free(s);
}

/* The remaining hooks Envoy requires: let the stream continue / do nothing. */
#define CONTINUE_HOOK(n)                                                                            \
  EXPORT envoy_filter_status envoy_dynamic_module_on_http_filter_##n(void* a, void* b, bool c) { \
    (void)a;                                                                                        \
    (void)b;                                                                                        \
    (void)c;                                                                                        \
    return ENVOY_FILTER_CONTINUE;                                                                   \
  }
CONTINUE_HOOK(request_body)
CONTINUE_HOOK(request_trailers)
CONTINUE_HOOK(response_body)

#define NOOP_HOOK(n) \
  EXPORT void envoy_dynamic_module_on_http_filter_##n(void) {}
NOOP_HOOK(http_callout_done)
NOOP_HOOK(http_stream_headers)
NOOP_HOOK(http_stream_data)
NOOP_HOOK(http_stream_trailers)
NOOP_HOOK(http_stream_complete)
NOOP_HOOK(http_stream_reset)
NOOP_HOOK(scheduled)
NOOP_HOOK(downstream_above_write_buffer_high_watermark)
NOOP_HOOK(downstream_below_write_buffer_low_watermark)
