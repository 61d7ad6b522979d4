/*
 * proxy_wasm_module.c -- Istio's HTTP telemetry (metadata exchange + istio_* stats) as a
 * proxy-wasm ABI v0.2.1 HTTP filter, a thin adapter over the shared C core (../src/tstats_core.h).
 *
 * It is the Wasm peer of the native Envoy dynamic module built from the same core, so it does the
 * same work per request and nothing more:
 *   request headers   start time; keep :authority and content-type;
 *                     reporter=source:      add x-envoy-peer-metadata-id / x-envoy-peer-metadata
 *                     reporter=destination: read both from the request (the peer), remove them
 *   response headers  :status (and grpc-status for gRPC requests);
 *                     reporter=source:      read both from the response (the peer), remove them
 *                     reporter=destination: add ours
 *   response trailers grpc-status for gRPC requests
 *   log (stream end)  duration, request.total_size, response.total_size; peer = ts_peer_lookup;
 *                     labels = ts_http_labels; the 4 metric ids of that label tuple come from a
 *                     hash map (defined once through proxy_define_metric); 1 increment + 3 records.
 *
 * Metric names carry the labels the way Istio's Wasm-era stats plugin (istio/proxy
 * extensions/stats, proxy-wasm-cpp-sdk MetricBase) encoded them: for each label
 * `<name>=.=<value>;.;`, then the metric name, e.g.
 *   reporter=.=source;.;source_workload=.=sleep;.;...;.;istio_requests_total
 * Envoy files them under its `wasmcustom.` namespace; stats_tags regexes in the bootstrap
 * (`(<name>=\.=(.*?);\.;)`, as Istio's bootstrap had) turn them back into Prometheus labels.
 *
 * Every buffer the host returns was allocated with proxy_on_memory_allocate (malloc) and is freed
 * here once used.
 */
#include <stdlib.h>
#include <string.h>

#include "../src/tstats_core.h"
#include "proxy_wasm_abi.h"

#define LIT(s) s, (sizeof(s) - 1)

static const char HDR_PEER_ID[] = "x-envoy-peer-metadata-id";
static const char HDR_PEER_METADATA[] = "x-envoy-peer-metadata";
static const char PROP_REQUEST_SIZE[] = "request\0total_size";   /* path segments split by '\0' */
static const char PROP_RESPONSE_SIZE[] = "response\0total_size";

static void log_msg(uint32_t level, const char* msg, size_t len) { proxy_log(level, msg, len); }

/* ------------------------------------------------------------------ host buffers */

/* A value the host copied into our memory (malloc'd through proxy_on_memory_allocate). */
typedef struct host_buf {
  char* ptr;
  size_t len;
} host_buf;

static void host_buf_free(host_buf* b) {
  free(b->ptr);
  b->ptr = NULL;
  b->len = 0;
}

static ts_str host_buf_str(const host_buf* b) { return (ts_str){b->ptr, b->len}; }

/* Reads one header/trailer; returns 1 when present. */
static int get_header(uint32_t map, const char* key, size_t key_len, host_buf* out) {
  char* ptr = NULL;
  size_t len = 0;
  if (proxy_get_header_map_value(map, key, key_len, &ptr, &len) != PW_OK) {
    free(ptr);
    return 0;
  }
  out->ptr = ptr;
  out->len = len;
  return 1;
}

/* An int64 property (Envoy serializes it as 8 little-endian bytes); 0 when absent. */
static uint64_t get_int_property(const char* path, size_t path_len) {
  char* ptr = NULL;
  size_t len = 0;
  uint64_t v = 0;
  if (proxy_get_property(path, path_len, &ptr, &len) == PW_OK && len == sizeof(int64_t)) {
    int64_t s;
    memcpy(&s, ptr, sizeof(s));
    v = s > 0 ? (uint64_t)s : 0;
  }
  free(ptr);
  return v;
}

/* ------------------------------------------------------------------ root contexts */

typedef struct root_ctx {
  uint32_t id;
  ts_config* config;
} root_ctx;

/* One per plugin using this VM (Envoy shares a VM between plugins with the same vm_config). */
static root_ctx* roots;
static size_t roots_len, roots_cap;

static root_ctx* root_find(uint32_t id) {
  for (size_t i = 0; i < roots_len; i++)
    if (roots[i].id == id) return &roots[i];
  return NULL;
}

static root_ctx* root_add(uint32_t id) {
  root_ctx* r = root_find(id);
  if (r) return r;
  if (roots_len == roots_cap) {
    size_t cap = roots_cap ? roots_cap * 2 : 4;
    root_ctx* n = realloc(roots, cap * sizeof(*n));
    if (n == NULL) return NULL;
    roots = n;
    roots_cap = cap;
  }
  r = &roots[roots_len++];
  r->id = id;
  r->config = NULL;
  return r;
}

static int root_delete(uint32_t id) {
  root_ctx* r = root_find(id);
  if (r == NULL) return 0;
  ts_config_free(r->config);
  *r = roots[--roots_len];
  return 1;
}

/* ------------------------------------------------------------------ stream contexts */

typedef struct stream_ctx {
  uint32_t id;
  const ts_config* config;
  int outbound;
  int grpc;
  uint64_t start_ns;
  uint32_t response_code;
  host_buf authority;    /* request :authority */
  host_buf content_type; /* request content-type */
  host_buf peer_metadata; /* the peer's x-envoy-peer-metadata, looked up in the cache at log time */
  host_buf grpc_status;
} stream_ctx;

/* Open addressing on the context id, linear probing, backward-shift deletion. */
static stream_ctx** streams;
static size_t streams_cap, streams_len;

static size_t stream_slot(uint32_t id) { return (size_t)((id * 2654435761u) & (uint32_t)(streams_cap - 1)); }

static stream_ctx* stream_find(uint32_t id) {
  if (streams_cap == 0) return NULL;
  for (size_t i = stream_slot(id);; i = (i + 1) & (streams_cap - 1)) {
    stream_ctx* s = streams[i];
    if (s == NULL) return NULL;
    if (s->id == id) return s;
  }
}

static int stream_insert(stream_ctx* s) {
  if ((streams_len + 1) * 2 > streams_cap) {
    size_t cap = streams_cap ? streams_cap * 2 : 64;
    stream_ctx** n = calloc(cap, sizeof(*n));
    if (n == NULL) return -1;
    stream_ctx** old = streams;
    size_t old_cap = streams_cap;
    streams = n;
    streams_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
      if (old[i] == NULL) continue;
      size_t j = stream_slot(old[i]->id);
      while (streams[j]) j = (j + 1) & (cap - 1);
      streams[j] = old[i];
    }
    free(old);
  }
  size_t i = stream_slot(s->id);
  while (streams[i]) i = (i + 1) & (streams_cap - 1);
  streams[i] = s;
  streams_len++;
  return 0;
}

static stream_ctx* stream_remove(uint32_t id) {
  if (streams_cap == 0) return NULL;
  size_t mask = streams_cap - 1, i = stream_slot(id);
  while (streams[i] && streams[i]->id != id) i = (i + 1) & mask;
  stream_ctx* s = streams[i];
  if (s == NULL) return NULL;
  streams[i] = NULL;
  streams_len--;
  for (size_t j = (i + 1) & mask; streams[j]; j = (j + 1) & mask) {
    size_t home = stream_slot(streams[j]->id);
    /* move streams[j] into the hole at i unless its home lies cyclically in (i, j] */
    int stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
    if (!stays) {
      streams[i] = streams[j];
      streams[j] = NULL;
      i = j;
    }
  }
  return s;
}

static void stream_free(stream_ctx* s) {
  host_buf_free(&s->authority);
  host_buf_free(&s->content_type);
  host_buf_free(&s->peer_metadata);
  host_buf_free(&s->grpc_status);
  free(s);
}

/* ------------------------------------------------------------------ metrics */

enum { M_REQUESTS_TOTAL, M_REQUEST_DURATION, M_REQUEST_BYTES, M_RESPONSE_BYTES, M_COUNT };

static const struct {
  const char* name;
  uint32_t type;
} METRICS[M_COUNT] = {
    {"istio_" TS_METRIC_REQUESTS_TOTAL, PW_METRIC_COUNTER},
    {"istio_" TS_METRIC_REQUEST_DURATION, PW_METRIC_HISTOGRAM},
    {"istio_" TS_METRIC_REQUEST_BYTES, PW_METRIC_HISTOGRAM},
    {"istio_" TS_METRIC_RESPONSE_BYTES, PW_METRIC_HISTOGRAM},
};

/* One label tuple: its 4 metric ids; the key is the 25 values, each followed by '\0'. */
typedef struct metric_set {
  uint64_t hash;
  uint32_t ids[M_COUNT];
  size_t key_len;
  char key[];
} metric_set;

static metric_set** msets;
static size_t msets_cap, msets_len;

static uint64_t labels_hash(const ts_str* v) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < TS_HTTP_LABELS; i++) {
    for (size_t k = 0; k < v[i].len; k++) {
      h ^= (unsigned char)v[i].ptr[k];
      h *= 1099511628211ull;
    }
    h ^= 0xff; /* separator: ("ab","") != ("a","b") */
    h *= 1099511628211ull;
  }
  return h;
}

static int labels_equal(const metric_set* m, const ts_str* v) {
  const char* k = m->key;
  const char* end = m->key + m->key_len;
  for (size_t i = 0; i < TS_HTTP_LABELS; i++) {
    if ((size_t)(end - k) < v[i].len + 1 || memcmp(k, v[i].ptr, v[i].len) != 0 || k[v[i].len] != 0)
      return 0;
    k += v[i].len + 1;
  }
  return k == end;
}

static int msets_grow(void) {
  size_t cap = msets_cap ? msets_cap * 2 : 256;
  metric_set** n = calloc(cap, sizeof(*n));
  if (n == NULL) return -1;
  for (size_t i = 0; i < msets_cap; i++) {
    metric_set* m = msets[i];
    if (m == NULL) continue;
    size_t j = (size_t)(m->hash & (cap - 1));
    while (n[j]) j = (j + 1) & (cap - 1);
    n[j] = m;
  }
  free(msets);
  msets = n;
  msets_cap = cap;
  return 0;
}

/* Defines the 4 metrics of a new label tuple: `<label>=.=<value>;.;` x25 + the metric name. */
static metric_set* metric_set_define(const ts_str* v, uint64_t hash) {
  size_t key_len = 0, prefix_len = 0;
  for (size_t i = 0; i < TS_HTTP_LABELS; i++) {
    key_len += v[i].len + 1;
    prefix_len += strlen(ts_http_label_names[i]) + 3 + v[i].len + 3;
  }
  size_t longest = 0;
  for (size_t m = 0; m < M_COUNT; m++) {
    size_t n = strlen(METRICS[m].name);
    if (n > longest) longest = n;
  }
  metric_set* ms = malloc(sizeof(*ms) + key_len);
  char* name = malloc(prefix_len + longest);
  if (ms == NULL || name == NULL) {
    free(ms);
    free(name);
    return NULL;
  }
  ms->hash = hash;
  ms->key_len = key_len;
  char* k = ms->key;
  char* p = name;
  for (size_t i = 0; i < TS_HTTP_LABELS; i++) {
    memcpy(k, v[i].ptr, v[i].len);
    k += v[i].len;
    *k++ = 0;
    size_t n = strlen(ts_http_label_names[i]);
    memcpy(p, ts_http_label_names[i], n);
    p += n;
    memcpy(p, "=.=", 3);
    p += 3;
    memcpy(p, v[i].ptr, v[i].len);
    p += v[i].len;
    memcpy(p, ";.;", 3);
    p += 3;
  }
  for (size_t m = 0; m < M_COUNT; m++) {
    size_t n = strlen(METRICS[m].name);
    memcpy(p, METRICS[m].name, n);
    if (proxy_define_metric(METRICS[m].type, name, prefix_len + n, &ms->ids[m]) != PW_OK) {
      log_msg(PW_LOG_ERROR, LIT("tstats: proxy_define_metric failed"));
      free(name);
      free(ms);
      return NULL;
    }
  }
  free(name);
  return ms;
}

static const metric_set* metric_set_get(const ts_str* v) {
  uint64_t h = labels_hash(v);
  if (msets_cap) {
    for (size_t i = (size_t)(h & (msets_cap - 1));; i = (i + 1) & (msets_cap - 1)) {
      metric_set* m = msets[i];
      if (m == NULL) break;
      if (m->hash == h && labels_equal(m, v)) return m;
    }
  }
  if ((msets_len + 1) * 2 > msets_cap && msets_grow() < 0) return NULL;
  metric_set* m = metric_set_define(v, h);
  if (m == NULL) return NULL;
  size_t i = (size_t)(h & (msets_cap - 1));
  while (msets[i]) i = (i + 1) & (msets_cap - 1);
  msets[i] = m;
  msets_len++;
  return m;
}

/* ------------------------------------------------------------------ peer headers */

static void add_own_headers(uint32_t map, const ts_config* c) {
  ts_str id = ts_config_node_id(c), md = ts_config_metadata(c);
  if (id.len) proxy_replace_header_map_value(map, LIT(HDR_PEER_ID), id.ptr, id.len);
  if (md.len) proxy_replace_header_map_value(map, LIT(HDR_PEER_METADATA), md.ptr, md.len);
}

/*
 * Keeps the peer's metadata value and removes both exchange headers, as the native adapter does
 * (the core keys peers on the metadata value alone, so the id is not read).
 */
static void take_peer_headers(uint32_t map, stream_ctx* s) {
  host_buf md = {0, 0};
  proxy_remove_header_map_value(map, LIT(HDR_PEER_ID));
  if (get_header(map, LIT(HDR_PEER_METADATA), &md)) {
    proxy_remove_header_map_value(map, LIT(HDR_PEER_METADATA));
    host_buf_free(&s->peer_metadata);
    s->peer_metadata = md;
  }
}

/* ------------------------------------------------------------------ exports */

PW_EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}

PW_EXPORT(proxy_on_memory_allocate) void* proxy_on_memory_allocate(size_t size) { return malloc(size); }

PW_EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t id, uint32_t parent_id) {
  if (parent_id == 0) {
    if (root_add(id) == NULL) log_msg(PW_LOG_ERROR, LIT("tstats: out of memory (root context)"));
    return;
  }
  root_ctx* r = root_find(parent_id);
  if (r == NULL || r->config == NULL) return; /* not configured: the stream passes through */
  stream_ctx* s = calloc(1, sizeof(*s));
  if (s == NULL) return;
  s->id = id;
  s->config = r->config;
  s->outbound = ts_config_is_outbound(r->config);
  if (stream_insert(s) < 0) free(s);
}

PW_EXPORT(proxy_on_vm_start) uint32_t proxy_on_vm_start(uint32_t root_id, size_t vm_config_size) {
  (void)root_id;
  (void)vm_config_size;
  return 1;
}

PW_EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root_id, size_t config_size) {
  root_ctx* r = root_add(root_id);
  if (r == NULL) return 0;
  char* text = NULL;
  size_t len = 0;
  if (config_size > 0 &&
      proxy_get_buffer_bytes(PW_BUFFER_PLUGIN_CONFIGURATION, 0, config_size, &text, &len) != PW_OK) {
    free(text);
    log_msg(PW_LOG_ERROR, LIT("tstats: cannot read the plugin configuration"));
    return 0;
  }
  char err[256];
  err[0] = 0;
  ts_config* c = ts_config_new(text ? text : "", len, err, sizeof(err));
  free(text);
  if (c == NULL) {
    log_msg(PW_LOG_ERROR, err, strlen(err));
    return 0;
  }
  ts_config_free(r->config); /* Envoy configures a root context once; a new config gets a new root */
  r->config = c;
  return 1;
}

PW_EXPORT(proxy_on_request_headers)
uint32_t proxy_on_request_headers(uint32_t id, size_t num_headers, uint32_t end_of_stream) {
  (void)num_headers;
  (void)end_of_stream;
  stream_ctx* s = stream_find(id);
  if (s == NULL) return PW_ACTION_CONTINUE;
  proxy_get_current_time_nanoseconds(&s->start_ns);
  get_header(PW_MAP_HTTP_REQUEST_HEADERS, LIT(":authority"), &s->authority);
  if (get_header(PW_MAP_HTTP_REQUEST_HEADERS, LIT("content-type"), &s->content_type))
    s->grpc = s->content_type.len >= 16 && memcmp(s->content_type.ptr, "application/grpc", 16) == 0;
  if (s->outbound) add_own_headers(PW_MAP_HTTP_REQUEST_HEADERS, s->config);
  else take_peer_headers(PW_MAP_HTTP_REQUEST_HEADERS, s);
  return PW_ACTION_CONTINUE;
}

static uint32_t parse_status(const host_buf* b) {
  uint32_t code = 0;
  for (size_t i = 0; i < b->len && i < 3; i++) {
    char c = b->ptr[i];
    if (c < '0' || c > '9') return 0;
    code = code * 10 + (uint32_t)(c - '0');
  }
  return b->len == 3 ? code : 0;
}

PW_EXPORT(proxy_on_response_headers)
uint32_t proxy_on_response_headers(uint32_t id, size_t num_headers, uint32_t end_of_stream) {
  (void)num_headers;
  (void)end_of_stream;
  stream_ctx* s = stream_find(id);
  if (s == NULL) return PW_ACTION_CONTINUE;
  host_buf status = {0, 0};
  if (get_header(PW_MAP_HTTP_RESPONSE_HEADERS, LIT(":status"), &status)) {
    s->response_code = parse_status(&status);
    host_buf_free(&status);
  }
  /* grpc-status only matters for gRPC requests (the core ignores it otherwise); a trailers-only
   * response carries it in the headers, a normal one in the trailers. */
  if (s->grpc) get_header(PW_MAP_HTTP_RESPONSE_HEADERS, LIT("grpc-status"), &s->grpc_status);
  if (s->outbound) take_peer_headers(PW_MAP_HTTP_RESPONSE_HEADERS, s);
  else add_own_headers(PW_MAP_HTTP_RESPONSE_HEADERS, s->config);
  return PW_ACTION_CONTINUE;
}

PW_EXPORT(proxy_on_response_trailers)
uint32_t proxy_on_response_trailers(uint32_t id, size_t num_trailers) {
  (void)num_trailers;
  stream_ctx* s = stream_find(id);
  if (s == NULL || !s->grpc) return PW_ACTION_CONTINUE;
  host_buf v = {0, 0};
  if (get_header(PW_MAP_HTTP_RESPONSE_TRAILERS, LIT("grpc-status"), &v)) {
    host_buf_free(&s->grpc_status);
    s->grpc_status = v;
  }
  return PW_ACTION_CONTINUE;
}

PW_EXPORT(proxy_on_log) void proxy_on_log(uint32_t id) {
  stream_ctx* s = stream_find(id);
  if (s == NULL) return;
  uint64_t now = 0;
  proxy_get_current_time_nanoseconds(&now);
  uint64_t duration_ms = (s->start_ns && now > s->start_ns) ? (now - s->start_ns) / 1000000u : 0;
  uint64_t request_bytes = get_int_property(PROP_REQUEST_SIZE, sizeof(PROP_REQUEST_SIZE) - 1);
  uint64_t response_bytes = get_int_property(PROP_RESPONSE_SIZE, sizeof(PROP_RESPONSE_SIZE) - 1);

  /* Looked up here, not when the header arrived: the cache may be cleared (and its peers freed)
   * between the two while other streams fill it. */
  const ts_peer* peer = ts_peer_lookup(s->config, host_buf_str(&s->peer_metadata));
  ts_http_request req = {
      .authority = host_buf_str(&s->authority),
      .content_type = host_buf_str(&s->content_type),
      .response_code = s->response_code,
      .grpc_status = host_buf_str(&s->grpc_status),
  };
  char scratch[8];
  ts_str labels[TS_HTTP_LABELS];
  ts_http_labels(s->config, peer, &req, scratch, labels);
  const metric_set* m = metric_set_get(labels);
  ts_peer_release(peer);
  if (m == NULL) return;
  proxy_increment_metric(m->ids[M_REQUESTS_TOTAL], 1);
  proxy_record_metric(m->ids[M_REQUEST_DURATION], duration_ms);
  proxy_record_metric(m->ids[M_REQUEST_BYTES], request_bytes);
  proxy_record_metric(m->ids[M_RESPONSE_BYTES], response_bytes);
}

PW_EXPORT(proxy_on_done) uint32_t proxy_on_done(uint32_t id) {
  (void)id;
  return 1;
}

PW_EXPORT(proxy_on_delete) void proxy_on_delete(uint32_t id) {
  stream_ctx* s = stream_remove(id);
  if (s) {
    stream_free(s);
    return;
  }
  root_delete(id);
}
