/*
 * envoy_network.c -- Istio's TCP metrics in the tstats Envoy dynamic module (native):
 * istio_tcp_sent_bytes_total, istio_tcp_received_bytes_total, istio_tcp_connections_opened_total
 * and istio_tcp_connections_closed_total, with Istio's 23 labels, for both reporters.
 *
 * Two pieces in the same libtstats.so:
 *  - a network filter (filter_name "tstats", config = the HTTP filter's text) placed before
 *    tcp_proxy on a listener. It counts the bytes Envoy reads from (received) and writes to (sent)
 *    the downstream connection, as Istio's network istio.stats filter does;
 *  - a bootstrap extension that owns the four labelled counters. Envoy 1.40's network-filter metric
 *    callbacks take no labels (see envoy_network_abi.h), its bootstrap-extension counters do. So
 *    the Envoy config needs, besides the listener filters, one
 *      bootstrap_extensions: [{ name: envoy.bootstrap.dynamic_modules, typed_config: {
 *        "@type": type.googleapis.com/envoy.extensions.bootstrap.dynamic_modules.v3.DynamicModuleBootstrapExtension,
 *        dynamic_module_config: { name: tstats, do_not_close: true, metrics_namespace: istio },
 *        extension_name: tstats } }]
 *    and Envoy prints the series as envoy_istio_tcp_*. Without it the filter config is rejected.
 *
 * The peer: plaintext TCP carries no Istio metadata. Istio's TCP metadata exchange is a frame sent
 * after an mTLS handshake that negotiated ALPN `istio-peer-exchange`; without mTLS there is
 * nothing to read, so every connection's peer is the unknown peer (ts_peer_lookup of ""), and the
 * peer's labels read `unknown` (canonical revision `latest`), as in Istio without mTLS.
 * destination_service: outbound (reporter=source) takes the host out of the upstream cluster name
 * when it is Istio's `outbound|<port>|<subset>|<host>`, else it is empty (`unknown`); inbound passes
 * empty and the core falls back to the local canonical service.
 *
 * When things are recorded: the labels are built once per connection, when they are complete:
 * inbound at the new connection, outbound once tcp_proxy has picked the upstream host (it holds
 * downstream reads until the upstream is connected, so this is at the first byte either way) or at
 * close. The connection counts as opened then, as in Istio, where the first report carries the
 * open. Byte counts accumulate per chunk in the connection's state (two additions) and are added to
 * the counters at most every TCP_REPORT_NS while data flows and at close, where the close is
 * counted: Istio's 5 s tcp_reporting_duration. A network filter has no timer in this ABI (its
 * scheduler only posts an event, without delay), so a connection that goes idle reports its last
 * bytes at close, or with the next chunk after 5 s.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envoy_network_abi.h"
#include "tstats_core.h"

#define EXPORT __attribute__((visibility("default")))

#define TCP_REPORT_NS (5ull * 1000000000ull)
#define SERVICE_HOST_MAX 255

static envoy_module_buffer mbuf(const char* s, size_t n) { return (envoy_module_buffer){s, n}; }
static envoy_module_buffer cbuf(const char* s) { return mbuf(s, strlen(s)); }

static uint64_t now_ns(void) {
  struct timespec t;
#ifdef CLOCK_MONOTONIC_COARSE
  clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
#else
  clock_gettime(CLOCK_MONOTONIC, &t);
#endif
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* ------------------------------------------------------------------ bootstrap: the counters */

typedef struct {
  envoy_bootstrap_config_envoy_ptr envoy;
  size_t sent, received, opened, closed;
} tcp_metrics;

/* Set on the main thread while Envoy starts (before workers exist), read by the workers. */
static _Atomic(tcp_metrics*) the_metrics;

static int define_tcp(envoy_bootstrap_config_envoy_ptr e, const char* name, size_t* id) {
  envoy_module_buffer labels[TS_TCP_LABELS];
  for (size_t i = 0; i < TS_TCP_LABELS; i++) labels[i] = cbuf(ts_tcp_label_names[i]);
  return envoy_dynamic_module_callback_bootstrap_extension_config_define_counter(e, cbuf(name), labels,
                                                                                  TS_TCP_LABELS, id) ==
                 envoy_metrics_result_Success
             ? 0
             : -1;
}

EXPORT envoy_bootstrap_config_module_ptr envoy_dynamic_module_on_bootstrap_extension_config_new(
    envoy_bootstrap_config_envoy_ptr config_envoy, envoy_envoy_buffer name, envoy_envoy_buffer config) {
  (void)name;
  if (config.length != 0) {
    envoy_dynamic_module_callback_log(envoy_log_error,
                                      cbuf("tstats: the bootstrap extension takes no extension_config"));
    return NULL;
  }
  if (atomic_load(&the_metrics) != NULL) {
    envoy_dynamic_module_callback_log(envoy_log_error,
                                      cbuf("tstats: only one tstats bootstrap extension may be configured"));
    return NULL;
  }
  tcp_metrics* m = calloc(1, sizeof(*m));
  if (m == NULL) return NULL;
  m->envoy = config_envoy;
  if (define_tcp(config_envoy, TS_METRIC_TCP_SENT, &m->sent) < 0 ||
      define_tcp(config_envoy, TS_METRIC_TCP_RECEIVED, &m->received) < 0 ||
      define_tcp(config_envoy, TS_METRIC_TCP_OPENED, &m->opened) < 0 ||
      define_tcp(config_envoy, TS_METRIC_TCP_CLOSED, &m->closed) < 0) {
    envoy_dynamic_module_callback_log(envoy_log_error, cbuf("tstats: Envoy refused to define the istio_tcp metrics"));
    free(m);
    return NULL;
  }
  envoy_dynamic_module_callback_bootstrap_extension_config_signal_init_complete(config_envoy);
  atomic_store(&the_metrics, m);
  return m;
}

EXPORT void envoy_dynamic_module_on_bootstrap_extension_config_destroy(envoy_bootstrap_config_module_ptr p) {
  tcp_metrics* m = (tcp_metrics*)p;
  tcp_metrics* expected = m;
  atomic_compare_exchange_strong(&the_metrics, &expected, NULL);
  free(m);
}

/* The extension object itself has no state: hand back the config so that it is non-NULL. */
EXPORT envoy_bootstrap_extension_module_ptr envoy_dynamic_module_on_bootstrap_extension_new(
    envoy_bootstrap_config_module_ptr config, envoy_bootstrap_extension_envoy_ptr extension_envoy) {
  (void)extension_envoy;
  return config;
}

EXPORT void envoy_dynamic_module_on_bootstrap_extension_destroy(envoy_bootstrap_extension_module_ptr e) { (void)e; }

EXPORT void envoy_dynamic_module_on_bootstrap_extension_shutdown(envoy_bootstrap_extension_envoy_ptr e,
                                                                 envoy_bootstrap_extension_module_ptr m,
                                                                 envoy_bootstrap_completion completion,
                                                                 void* context) {
  (void)e;
  (void)m;
  if (completion != NULL) completion(context);
}

#define BOOTSTRAP_NOOP_HOOK(n) \
  EXPORT void envoy_dynamic_module_on_bootstrap_extension_##n(void) {}
BOOTSTRAP_NOOP_HOOK(server_initialized)
BOOTSTRAP_NOOP_HOOK(worker_thread_initialized)
BOOTSTRAP_NOOP_HOOK(drain_started)
BOOTSTRAP_NOOP_HOOK(config_scheduled)
BOOTSTRAP_NOOP_HOOK(http_callout_done)
BOOTSTRAP_NOOP_HOOK(timer_fired)
BOOTSTRAP_NOOP_HOOK(file_changed)
BOOTSTRAP_NOOP_HOOK(admin_request)
BOOTSTRAP_NOOP_HOOK(cluster_add_or_update)
BOOTSTRAP_NOOP_HOOK(cluster_removal)
BOOTSTRAP_NOOP_HOOK(listener_add_or_update)
BOOTSTRAP_NOOP_HOOK(listener_removal)

/* ------------------------------------------------------------------ network filter */

typedef struct {
  ts_config* core;
} net_config;

typedef struct {
  const net_config* config;
  const ts_peer* peer;
  int started;  /* saw the new connection */
  int labelled; /* values[] are final; the open was counted */
  int closed;
  uint64_t received, sent; /* not yet added to the counters */
  uint64_t last_report_ns;
  envoy_module_buffer values[TS_TCP_LABELS];
  char service_host[SERVICE_HOST_MAX + 1];
} connection_state;

/* `outbound|<port>|<subset>|<host>` -> host; anything else -> empty. */
static ts_str istio_outbound_host(envoy_envoy_buffer cluster) {
  static const char prefix[] = "outbound|";
  const size_t plen = sizeof(prefix) - 1;
  ts_str none = {"", 0};
  if (cluster.ptr == NULL || cluster.length <= plen || memcmp(cluster.ptr, prefix, plen) != 0) return none;
  const char* p = cluster.ptr + plen;
  const char* end = cluster.ptr + cluster.length;
  for (int bars = 0; bars < 2; bars++) {
    const char* bar = memchr(p, '|', (size_t)(end - p));
    if (bar == NULL) return none;
    p = bar + 1;
  }
  if (memchr(p, '|', (size_t)(end - p)) != NULL) return none;
  return (ts_str){p, (size_t)(end - p)};
}

static void build_labels(envoy_network_filter_envoy_ptr f, connection_state* s) {
  ts_str host = {"", 0};
  if (f != NULL && ts_config_is_outbound(s->config->core)) {
    envoy_envoy_buffer cluster = {NULL, 0};
    if (envoy_dynamic_module_callback_network_filter_get_upstream_host_cluster(f, &cluster)) {
      ts_str h = istio_outbound_host(cluster);
      if (h.len <= SERVICE_HOST_MAX) {
        memcpy(s->service_host, h.ptr, h.len); /* Envoy's string is only borrowed */
        host = (ts_str){s->service_host, h.len};
      }
    }
  }
  ts_str labels[TS_TCP_LABELS];
  ts_tcp_labels(s->config->core, s->peer, host, labels);
  for (size_t i = 0; i < TS_TCP_LABELS; i++) s->values[i] = mbuf(labels[i].ptr, labels[i].len);
  s->labelled = 1;
}

static void add(tcp_metrics* m, connection_state* s, size_t id, uint64_t value) {
  if (value == 0) return;
  envoy_dynamic_module_callback_bootstrap_extension_config_increment_counter(m->envoy, id, s->values, TS_TCP_LABELS,
                                                                             value);
}

/*
 * Reports what is pending. `f` is NULL when Envoy destroys the filter without a close event;
 * `closing` also counts the close. Outbound labels wait for the upstream host unless closing.
 */
static void report(envoy_network_filter_envoy_ptr f, connection_state* s, int closing) {
  tcp_metrics* m = atomic_load_explicit(&the_metrics, memory_order_acquire);
  if (m == NULL || !s->started) return;
  if (!s->labelled) {
    if (!closing && ts_config_is_outbound(s->config->core) &&
        !envoy_dynamic_module_callback_network_filter_has_upstream_host(f))
      return;
    build_labels(f, s);
    add(m, s, m->opened, 1);
  }
  uint64_t now = now_ns();
  if (!closing && now - s->last_report_ns < TCP_REPORT_NS) return;
  s->last_report_ns = now;
  add(m, s, m->received, s->received);
  add(m, s, m->sent, s->sent);
  s->received = s->sent = 0;
  if (closing) {
    add(m, s, m->closed, 1);
    s->closed = 1;
  }
}

EXPORT envoy_network_filter_config_module_ptr envoy_dynamic_module_on_network_filter_config_new(
    envoy_network_filter_config_envoy_ptr config_envoy, envoy_envoy_buffer name, envoy_envoy_buffer config) {
  (void)config_envoy;
  (void)name;
  if (atomic_load(&the_metrics) == NULL) {
    envoy_dynamic_module_callback_log(
        envoy_log_error,
        cbuf("tstats: the TCP filter records into the tstats bootstrap extension's counters; add "
             "bootstrap_extensions: envoy.bootstrap.dynamic_modules with dynamic_module_config.name tstats"));
    return NULL;
  }
  char err[256];
  net_config* c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  c->core = ts_config_new(config.ptr, config.length, err, sizeof(err));
  if (c->core == NULL) {
    envoy_dynamic_module_callback_log(envoy_log_error, cbuf(err));
    free(c);
    return NULL;
  }
  return c;
}

EXPORT void envoy_dynamic_module_on_network_filter_config_destroy(envoy_network_filter_config_module_ptr p) {
  net_config* c = (net_config*)p;
  ts_config_free(c->core);
  free(c);
}

EXPORT envoy_network_filter_module_ptr envoy_dynamic_module_on_network_filter_new(
    envoy_network_filter_config_module_ptr config, envoy_network_filter_envoy_ptr filter_envoy) {
  (void)filter_envoy;
  connection_state* s = calloc(1, sizeof(*s));
  if (s == NULL) return NULL;
  s->config = config;
  return s;
}

EXPORT envoy_network_filter_status envoy_dynamic_module_on_network_filter_new_connection(
    envoy_network_filter_envoy_ptr f, envoy_network_filter_module_ptr p) {
  connection_state* s = p;
  s->peer = ts_peer_lookup(s->config->core, (ts_str){"", 0}); /* plaintext: the unknown peer */
  s->started = 1;
  s->last_report_ns = now_ns();
  if (!ts_config_is_outbound(s->config->core)) report(f, s, 0); /* inbound labels are known now */
  return ENVOY_NETWORK_CONTINUE;
}

EXPORT envoy_network_filter_status envoy_dynamic_module_on_network_filter_read(envoy_network_filter_envoy_ptr f,
                                                                               envoy_network_filter_module_ptr p,
                                                                               size_t data_length, bool end_stream) {
  (void)end_stream;
  connection_state* s = p;
  s->received += data_length;
  report(f, s, 0);
  return ENVOY_NETWORK_CONTINUE;
}

EXPORT envoy_network_filter_status envoy_dynamic_module_on_network_filter_write(envoy_network_filter_envoy_ptr f,
                                                                                envoy_network_filter_module_ptr p,
                                                                                size_t data_length, bool end_stream) {
  (void)end_stream;
  connection_state* s = p;
  s->sent += data_length;
  report(f, s, 0);
  return ENVOY_NETWORK_CONTINUE;
}

EXPORT void envoy_dynamic_module_on_network_filter_event(envoy_network_filter_envoy_ptr f,
                                                         envoy_network_filter_module_ptr p, envoy_network_event event) {
  connection_state* s = p;
  if ((event == envoy_network_event_remote_close || event == envoy_network_event_local_close) && !s->closed)
    report(f, s, 1);
}

EXPORT void envoy_dynamic_module_on_network_filter_destroy(envoy_network_filter_module_ptr p) {
  connection_state* s = p;
  if (!s->closed) report(NULL, s, 1);
  if (s->peer) ts_peer_release(s->peer);
  free(s);
}
