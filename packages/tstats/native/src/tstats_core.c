/*
 * tstats_core.c -- Istio's HTTP telemetry logic shared by the native (Envoy dynamic module) and
 * the Wasm (proxy-wasm) builds. See tstats_core.h for the contract.
 *
 * Label rules follow Envoy/Istio's istio_stats `populatePeerInfo`, as @meshctl/tstats'
 * recorder.ts does for proxyless gRPC: local values are used as they are, peer values fall back
 * to "unknown" (canonical revision to "latest"); without mTLS both principals are "unknown" and the
 * security policy is "unknown" (source) or "none" (destination).
 */
#include "tstats_core.h"

#include <stdlib.h>
#include <string.h>

#if defined(__wasm__)
#define TS_THREAD_LOCAL /* a Wasm VM runs on one thread */
#else
#define TS_THREAD_LOCAL _Thread_local
#endif

static const char UNKNOWN[] = "unknown";
static const char LATEST[] = "latest";

/* The 20 peer- and local-dependent labels both HTTP and TCP metrics start with, in Istio's order. */
#define WORKLOAD_LABEL_NAMES \
  "reporter", \
  "source_workload", \
  "source_canonical_service", \
  "source_canonical_revision", \
  "source_workload_namespace", \
  "source_principal", \
  "source_app", \
  "source_version", \
  "source_cluster", \
  "destination_workload", \
  "destination_workload_namespace", \
  "destination_principal", \
  "destination_app", \
  "destination_version", \
  "destination_service", \
  "destination_canonical_service", \
  "destination_canonical_revision", \
  "destination_service_name", \
  "destination_service_namespace", \
  "destination_cluster",

const char* const ts_http_label_names[TS_HTTP_LABELS] = {
    WORKLOAD_LABEL_NAMES
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
};

const char* const ts_tcp_label_names[TS_TCP_LABELS] = {
    WORKLOAD_LABEL_NAMES
    "request_protocol",
    "response_flags",
    "connection_security_policy",
};

static ts_str lit(const char* s) { return (ts_str){s, strlen(s)}; }
static ts_str or_else(ts_str v, ts_str fallback) { return v.len ? v : fallback; }
static int str_eq(ts_str a, const char* b) {
  size_t n = strlen(b);
  return a.len == n && memcmp(a.ptr, b, n) == 0;
}

/* ------------------------------------------------------------------ base64 */

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

long ts_base64_decode(const char* in, size_t len, unsigned char* out) {
  while (len > 0 && in[len - 1] == '=') len--; /* padding is optional, as in Envoy */
  if (len % 4 == 1) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64_value((unsigned char)in[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  return (long)o;
}

/* ------------------------------------------------ google.protobuf.Struct */

typedef struct {
  const unsigned char* p;
  const unsigned char* end;
} pb;

static int pb_varint(pb* r, uint64_t* v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end) return -1;
    unsigned char b = *r->p++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

/* Reads one field header; for length-delimited fields also the payload. */
static int pb_field(pb* r, uint32_t* field, uint32_t* wire, pb* payload) {
  uint64_t key;
  if (pb_varint(r, &key) < 0) return -1;
  *field = (uint32_t)(key >> 3);
  *wire = (uint32_t)(key & 7);
  uint64_t n;
  switch (*wire) {
    case 0:
      return pb_varint(r, &n);
    case 1:
      if (r->end - r->p < 8) return -1;
      r->p += 8;
      return 0;
    case 2:
      if (pb_varint(r, &n) < 0 || n > (uint64_t)(r->end - r->p)) return -1;
      payload->p = r->p;
      payload->end = r->p + n;
      r->p += n;
      return 0;
    case 5:
      if (r->end - r->p < 4) return -1;
      r->p += 4;
      return 0;
    default:
      return -1;
  }
}

/* One Struct map entry: key (field 1) and Value (field 2). */
static int pb_entry(pb entry, ts_str* key, pb* value) {
  key->ptr = NULL;
  key->len = 0;
  value->p = value->end = NULL;
  while (entry.p < entry.end) {
    uint32_t f, w;
    pb payload = {0, 0};
    if (pb_field(&entry, &f, &w, &payload) < 0) return -1;
    if (f == 1 && w == 2) *key = (ts_str){(const char*)payload.p, (size_t)(payload.end - payload.p)};
    if (f == 2 && w == 2) *value = payload;
  }
  return 0;
}

/* A Value's string_value (field 3) or struct_value (field 5); other kinds are ignored. */
static int pb_value(pb value, ts_str* string, pb* structure) {
  string->ptr = NULL;
  string->len = 0;
  structure->p = structure->end = NULL;
  while (value.p < value.end) {
    uint32_t f, w;
    pb payload = {0, 0};
    if (pb_field(&value, &f, &w, &payload) < 0) return -1;
    if (f == 3 && w == 2) *string = (ts_str){(const char*)payload.p, (size_t)(payload.end - payload.p)};
    if (f == 5 && w == 2) *structure = payload;
  }
  return 0;
}

static int decode_labels(pb s, ts_workload* w) {
  ts_str app = {0, 0}, app_q = {0, 0}, version = {0, 0}, version_q = {0, 0};
  while (s.p < s.end) {
    uint32_t f, wt;
    pb entry = {0, 0};
    if (pb_field(&s, &f, &wt, &entry) < 0) return -1;
    if (f != 1 || wt != 2) continue;
    ts_str key, str;
    pb value, nested;
    if (pb_entry(entry, &key, &value) < 0 || pb_value(value, &str, &nested) < 0) return -1;
    if (str_eq(key, "service.istio.io/canonical-name")) w->canonical_service = str;
    else if (str_eq(key, "service.istio.io/canonical-revision")) w->canonical_revision = str;
    else if (str_eq(key, "app")) app = str;
    else if (str_eq(key, "app.kubernetes.io/name")) app_q = str;
    else if (str_eq(key, "version")) version = str;
    else if (str_eq(key, "app.kubernetes.io/version")) version_q = str;
  }
  /* Envoy's convertStructToWorkloadMetadata: the qualified labels win. */
  w->app = or_else(app_q, app);
  w->version = or_else(version_q, version);
  return 0;
}

int ts_workload_decode(const unsigned char* bytes, size_t len, ts_workload* w) {
  memset(w, 0, sizeof(*w));
  pb s = {bytes, bytes + len};
  while (s.p < s.end) {
    uint32_t f, wt;
    pb entry = {0, 0};
    if (pb_field(&s, &f, &wt, &entry) < 0) return -1;
    if (f != 1 || wt != 2) continue; /* Struct.fields */
    ts_str key, str;
    pb value, nested;
    if (pb_entry(entry, &key, &value) < 0 || pb_value(value, &str, &nested) < 0) return -1;
    if (str_eq(key, "NAME")) w->name = str;
    else if (str_eq(key, "NAMESPACE")) w->namespace_ = str;
    else if (str_eq(key, "WORKLOAD_NAME")) w->workload_name = str;
    else if (str_eq(key, "CLUSTER_ID")) w->cluster_id = str;
    else if (str_eq(key, "IDENTITY")) w->identity = str;
    else if (str_eq(key, "LABELS") && nested.p != NULL && decode_labels(nested, w) < 0) return -1;
  }
  return 0;
}

void ts_workload_free(ts_workload* w) {
  free(w->storage);
  w->storage = NULL;
}

/* Decodes a header value into w, which then owns the decoded bytes. */
static int workload_from_header(ts_str header, ts_workload* w) {
  unsigned char* bytes = malloc(header.len / 4 * 3 + 4);
  if (bytes == NULL) return -1;
  long n = ts_base64_decode(header.ptr, header.len, bytes);
  if (n < 0 || ts_workload_decode(bytes, (size_t)n, w) < 0) {
    free(bytes);
    memset(w, 0, sizeof(*w));
    return -1;
  }
  w->storage = (char*)bytes;
  return 0;
}

/* ------------------------------------------------------------------ peers */

struct ts_peer {
  uint32_t refs;  /* the cache's reference + one per stream holding it; 0 = config-owned */
  uint64_t config_generation;
  uint64_t hash;
  char* key; /* the header value, owned */
  size_t key_len;
  int known;
  ts_workload workload;
  ts_str peer_namespace;
  ts_str labels[TS_WORKLOAD_LABELS]; /* [14], [17], [18] are per request (destination service) */
};

struct ts_config {
  uint64_t generation; /* unique per config: cache entries never outlive their meaning */
  int outbound;
  char* text; /* owns id and metadata */
  ts_str id, metadata;
  ts_workload local;
  ts_peer unknown_peer;
};

static void build_workload_labels(const ts_config* c, ts_peer* peer) {
  const ts_workload* l = &c->local;
  const ts_workload* p = peer->known ? &peer->workload : NULL;
  ts_str unknown = lit(UNKNOWN), latest = lit(LATEST), empty = {"", 0};
  ts_str p_workload = p ? or_else(p->workload_name, unknown) : unknown;
  ts_str p_canon = p ? or_else(p->canonical_service, unknown) : unknown;
  ts_str p_rev = p ? or_else(p->canonical_revision, latest) : latest;
  ts_str p_app = p ? or_else(p->app, unknown) : unknown;
  ts_str p_version = p ? or_else(p->version, unknown) : unknown;
  ts_str p_cluster = p ? or_else(p->cluster_id, unknown) : unknown;
  /* No mTLS here: the peer SAN is the identity the peer sent, only trusted on the client side. */
  ts_str peer_san = (c->outbound && p) ? p->identity : empty;
  ts_str peer_ns = p ? p->namespace_ : empty;
  if (peer_san.len) {
    const char* s = peer_san.ptr;
    for (size_t i = 0; i + 4 <= peer_san.len; i++) {
      if (memcmp(s + i, "/ns/", 4) == 0) {
        size_t start = i + 4, end = start;
        while (end < peer_san.len && s[end] != '/') end++;
        peer_ns = (ts_str){s + start, end - start};
        break;
      }
    }
  }
  peer->peer_namespace = peer_ns;
  ts_str* v = peer->labels;
  if (c->outbound) {
    v[0] = lit("source");
    v[1] = l->workload_name;
    v[2] = l->canonical_service;
    v[3] = l->canonical_revision;
    v[4] = l->namespace_;
    v[5] = unknown;
    v[6] = l->app;
    v[7] = l->version;
    v[8] = l->cluster_id;
    v[9] = p_workload;
    v[10] = or_else(peer_ns, unknown);
    v[11] = or_else(peer_san, unknown);
    v[12] = p_app;
    v[13] = p_version;
    v[15] = p_canon;
    v[16] = p_rev;
    v[19] = p_cluster;
  } else {
    v[0] = lit("destination");
    v[1] = p_workload;
    v[2] = p_canon;
    v[3] = p_rev;
    v[4] = or_else(peer_ns, unknown);
    v[5] = or_else(peer_san, unknown);
    v[6] = p_app;
    v[7] = p_version;
    v[8] = p_cluster;
    v[9] = l->workload_name;
    v[10] = l->namespace_;
    v[11] = unknown;
    v[12] = l->app;
    v[13] = l->version;
    v[15] = l->canonical_service;
    v[16] = l->canonical_revision;
    v[19] = l->cluster_id;
  }
  v[14] = v[17] = v[18] = empty;
}

static uint64_t next_generation = 1; /* configs are created on Envoy's main thread */

static void set_err(char* err, size_t cap, const char* a, ts_str b) {
  if (err == NULL || cap == 0) return;
  size_t n = strlen(a);
  if (n >= cap) n = cap - 1;
  memcpy(err, a, n);
  size_t m = b.len < cap - 1 - n ? b.len : cap - 1 - n;
  memcpy(err + n, b.ptr, m);
  err[n + m] = 0;
}

ts_config* ts_config_new(const char* text, size_t len, char* err, size_t err_cap) {
  ts_config* c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  c->text = malloc(len + 1);
  if (c->text == NULL) {
    free(c);
    return NULL;
  }
  memcpy(c->text, text, len);
  c->text[len] = 0;
  int have_reporter = 0;
  const char* p = c->text;
  const char* end = c->text + len;
  while (p < end) {
    const char* nl = memchr(p, '\n', (size_t)(end - p));
    const char* line_end = nl ? nl : end;
    ts_str line = {p, (size_t)(line_end - p)};
    p = nl ? nl + 1 : end;
    if (line.len && line.ptr[line.len - 1] == '\r') line.len--;
    if (line.len == 0) continue;
    const char* eq = memchr(line.ptr, '=', line.len);
    if (eq == NULL) {
      set_err(err, err_cap, "tstats: config line without '=': ", line);
      goto fail;
    }
    ts_str key = {line.ptr, (size_t)(eq - line.ptr)};
    ts_str value = {eq + 1, line.len - key.len - 1};
    if (str_eq(key, "reporter")) {
      if (str_eq(value, "source")) c->outbound = 1;
      else if (str_eq(value, "destination")) c->outbound = 0;
      else {
        set_err(err, err_cap, "tstats: reporter must be source or destination, not ", value);
        goto fail;
      }
      have_reporter = 1;
    } else if (str_eq(key, "id")) {
      c->id = value;
    } else if (str_eq(key, "metadata")) {
      c->metadata = value;
    } else {
      set_err(err, err_cap, "tstats: unknown config key ", key);
      goto fail;
    }
  }
  if (!have_reporter) {
    set_err(err, err_cap, "tstats: config needs reporter=source|destination", (ts_str){"", 0});
    goto fail;
  }
  if (c->metadata.len && workload_from_header(c->metadata, &c->local) < 0) {
    set_err(err, err_cap, "tstats: metadata is not a base64 google.protobuf.Struct", (ts_str){"", 0});
    goto fail;
  }
  c->generation = next_generation++;
  c->unknown_peer.config_generation = c->generation;
  build_workload_labels(c, &c->unknown_peer);
  return c;
fail:
  ts_config_free(c);
  return NULL;
}

void ts_config_free(ts_config* c) {
  if (c == NULL) return;
  ts_workload_free(&c->local);
  free(c->text);
  free(c);
}

int ts_config_is_outbound(const ts_config* c) { return c->outbound; }
ts_str ts_config_node_id(const ts_config* c) { return c->id; }
ts_str ts_config_metadata(const ts_config* c) { return c->metadata; }

/* The per-thread cache: open addressing, 2x slots, cleared when full. */
#define TS_SLOTS (TS_PEER_CACHE_MAX * 2)
typedef struct {
  ts_peer* slots[TS_SLOTS];
  size_t count;
  ts_cache_stats stats;
} ts_cache;

static TS_THREAD_LOCAL ts_cache* thread_cache;

static uint64_t fnv1a(uint64_t h, const char* s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static void peer_free(ts_peer* p) {
  ts_workload_free(&p->workload);
  free(p->key);
  free(p);
}

void ts_peer_release(const ts_peer* peer) {
  ts_peer* p = (ts_peer*)peer;
  if (p == NULL || p->refs == 0) return; /* a config's unknown peer */
  if (--p->refs == 0) peer_free(p);
}

void ts_cache_reset(void) {
  ts_cache* c = thread_cache;
  if (c == NULL) return;
  for (size_t i = 0; i < TS_SLOTS; i++) {
    if (c->slots[i]) ts_peer_release(c->slots[i]); /* streams still holding it free it later */
    c->slots[i] = NULL;
  }
  c->count = 0;
  memset(&c->stats, 0, sizeof(c->stats));
}

ts_cache_stats ts_cache_stats_get(void) {
  ts_cache_stats none = {0, 0, 0, 0};
  return thread_cache ? thread_cache->stats : none;
}

const ts_peer* ts_peer_lookup(const ts_config* config, ts_str header) {
  if (header.len == 0) return &config->unknown_peer;
  if (thread_cache == NULL) {
    thread_cache = calloc(1, sizeof(ts_cache));
    if (thread_cache == NULL) return &config->unknown_peer;
  }
  ts_cache* c = thread_cache;
  uint64_t h = fnv1a(14695981039346656037ull ^ config->generation, header.ptr, header.len);
  size_t i = (size_t)(h % TS_SLOTS);
  while (c->slots[i]) {
    ts_peer* p = c->slots[i];
    if (p->hash == h && p->config_generation == config->generation && p->key_len == header.len &&
        memcmp(p->key, header.ptr, header.len) == 0) {
      c->stats.hits++;
      if (!p->known) return &config->unknown_peer;
      p->refs++;
      return p;
    }
    i = (i + 1) % TS_SLOTS;
  }
  if (c->count >= TS_PEER_CACHE_MAX) {
    ts_cache_stats kept = c->stats;
    ts_cache_reset();
    c->stats = kept;
    c->stats.clears++;
    i = (size_t)(h % TS_SLOTS);
  }
  ts_peer* p = calloc(1, sizeof(*p));
  if (p == NULL) return &config->unknown_peer;
  p->key = malloc(header.len);
  if (p->key == NULL) {
    free(p);
    return &config->unknown_peer;
  }
  memcpy(p->key, header.ptr, header.len);
  p->key_len = header.len;
  p->hash = h;
  p->config_generation = config->generation;
  /* An undecodable value is cached too (as unknown), so a broken peer costs one decode. */
  p->known = workload_from_header(header, &p->workload) == 0;
  if (p->known) c->stats.decodes++;
  else c->stats.failures++;
  build_workload_labels(config, p);
  p->refs = 1; /* the cache's */
  c->slots[i] = p;
  c->count++;
  if (!p->known) return &config->unknown_peer;
  p->refs++;
  return p;
}

/* ------------------------------------------------------------------ labels */

/* `<name>.<ns>.svc[.<domain>]` from an authority (port dropped), as recorder.ts derives it. */
static void destination_service(ts_str authority, ts_str* host, ts_str* name, ts_str* ns) {
  ts_str h = authority;
  if (h.len && h.ptr[0] == '[') {
    const char* close = memchr(h.ptr, ']', h.len);
    h = close ? (ts_str){h.ptr + 1, (size_t)(close - h.ptr - 1)} : h;
  } else {
    const char* colon = memchr(h.ptr, ':', h.len);
    if (colon) h.len = (size_t)(colon - h.ptr);
  }
  *host = h;
  const char* dot1 = memchr(h.ptr, '.', h.len);
  if (dot1 == NULL) {
    *name = h;
    ns->ptr = "";
    ns->len = 0;
    return;
  }
  *name = (ts_str){h.ptr, (size_t)(dot1 - h.ptr)};
  const char* rest = dot1 + 1;
  size_t rest_len = h.len - name->len - 1;
  const char* dot2 = memchr(rest, '.', rest_len);
  size_t after = dot2 ? rest_len - (size_t)(dot2 - rest) - 1 : 0;
  if (dot2 && after >= 3 && memcmp(dot2 + 1, "svc", 3) == 0 && (after == 3 || dot2[4] == '.')) {
    *ns = (ts_str){rest, (size_t)(dot2 - rest)};
  } else {
    ns->ptr = "";
    ns->len = 0;
  }
}

/* The destination service labels [14], [17], [18] from a host (or authority). */
static void service_labels(const ts_config* config, const ts_peer* peer, ts_str authority, ts_str* out) {
  ts_str host, name, ns, unknown = lit(UNKNOWN);
  destination_service(authority, &host, &name, &ns);
  if (config->outbound) {
    out[14] = or_else(host, unknown);
    out[17] = or_else(name, unknown);
    out[18] = or_else(ns, or_else(peer->peer_namespace, unknown));
  } else {
    out[14] = or_else(host, config->local.canonical_service);
    out[17] = or_else(name, config->local.canonical_service);
    out[18] = config->local.namespace_;
  }
}

void ts_tcp_labels(const ts_config* config, const ts_peer* peer, ts_str service_host, ts_str out[TS_TCP_LABELS]) {
  if (peer == NULL) peer = &config->unknown_peer;
  memcpy(out, peer->labels, sizeof(peer->labels));
  service_labels(config, peer, service_host, out);
  out[20] = lit("tcp");
  out[21] = lit("-");
  out[22] = lit(config->outbound ? "unknown" : "none");
}

void ts_http_labels(const ts_config* config, const ts_peer* peer, const ts_http_request* r,
                    char scratch[8], ts_str out[TS_HTTP_LABELS]) {
  if (peer == NULL) peer = &config->unknown_peer;
  memcpy(out, peer->labels, sizeof(peer->labels));
  service_labels(config, peer, r->authority, out);
  int grpc = r->content_type.len >= 16 && memcmp(r->content_type.ptr, "application/grpc", 16) == 0;
  out[20] = lit(grpc ? "grpc" : "http");
  uint32_t code = r->response_code > 999 ? 0 : r->response_code;
  size_t n = 0;
  char digits[4];
  do {
    digits[n++] = (char)('0' + code % 10);
    code /= 10;
  } while (code);
  for (size_t i = 0; i < n; i++) scratch[i] = digits[n - 1 - i];
  scratch[n] = 0;
  out[21] = (ts_str){scratch, n};
  out[22] = grpc ? r->grpc_status : (ts_str){"", 0};
  out[23] = lit("-");
  out[24] = lit(config->outbound ? "unknown" : "none");
}
