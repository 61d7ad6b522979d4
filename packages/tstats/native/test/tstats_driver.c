/*
 * tstats_driver.c -- a command-line driver of tstats_core.c for the differential tests in
 * native-core.test.ts, which compare its output with @meshctl/tstats' TypeScript recorder.
 *
 *   tstats_driver decode <header>
 *       -> {"ok":true,"namespace":...,"workloadName":...,...} or {"ok":false}
 *   tstats_driver labels <config-file> <peer-header|-> <authority> <content-type> <code> <grpc-status>
 *       -> ["reporter value", ... 25 values]      (or {"error":...} when the config is rejected)
 *   tstats_driver hold <config-file> <header> <other-header>...
 *       -> the held peer's 25 labels after the others made the cache clear (it must survive)
 *   tstats_driver cache <config-file> <repeats> <header>...
 *       -> {"hits":..,"decodes":..,"failures":..,"clears":..}
 *   tstats_driver tcp-labels <config-file> <service-host>
 *       -> [["reporter","source"], ... 23 [name, value] pairs]  (the unknown peer, as plaintext TCP has)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/tstats_core.h"

static void json_str(ts_str s) {
  putchar('"');
  for (size_t i = 0; i < s.len; i++) {
    unsigned char c = (unsigned char)s.ptr[i];
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static ts_str arg(const char* s) { return (ts_str){s, strlen(s)}; }

static ts_config* load_config(const char* path) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return NULL;
  static char buf[65536];
  size_t n = fread(buf, 1, sizeof(buf), f);
  fclose(f);
  char err[256];
  ts_config* c = ts_config_new(buf, n, err, sizeof(err));
  if (c == NULL) {
    printf("{\"error\":");
    json_str(arg(err));
    printf("}\n");
  }
  return c;
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "decode") == 0) {
    ts_str h = arg(argv[2]);
    unsigned char* bytes = malloc(h.len + 4);
    long n = ts_base64_decode(h.ptr, h.len, bytes);
    ts_workload w;
    if (n < 0 || ts_workload_decode(bytes, (size_t)n, &w) < 0) {
      printf("{\"ok\":false}\n");
      return 0;
    }
    const char* names[] = {"instanceName", "namespace", "workloadName", "clusterId", "identity",
                           "canonicalService", "canonicalRevision", "app", "version"};
    ts_str values[] = {w.name, w.namespace_, w.workload_name, w.cluster_id, w.identity,
                       w.canonical_service, w.canonical_revision, w.app, w.version};
    printf("{\"ok\":true");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
      printf(",\"%s\":", names[i]);
      json_str(values[i]);
    }
    printf("}\n");
    free(bytes);
    return 0;
  }
  if (argc == 8 && strcmp(argv[1], "labels") == 0) {
    ts_config* c = load_config(argv[2]);
    if (c == NULL) return 0;
    const ts_peer* peer = ts_peer_lookup(c, strcmp(argv[3], "-") == 0 ? arg("") : arg(argv[3]));
    ts_http_request r = {arg(argv[4]), arg(argv[5]), (uint32_t)atoi(argv[6]), arg(argv[7])};
    char scratch[8];
    ts_str out[TS_HTTP_LABELS];
    ts_http_labels(c, peer, &r, scratch, out);
    putchar('[');
    for (int i = 0; i < TS_HTTP_LABELS; i++) {
      if (i) putchar(',');
      json_str(out[i]);
    }
    printf("]\n");
    ts_peer_release(peer);
    ts_config_free(c);
    return 0;
  }
  if (argc >= 4 && strcmp(argv[1], "hold") == 0) {
    ts_config* c = load_config(argv[2]);
    if (c == NULL) return 0;
    const ts_peer* held = ts_peer_lookup(c, arg(argv[3]));
    for (int i = 4; i < argc; i++) ts_peer_release(ts_peer_lookup(c, arg(argv[i])));
    ts_http_request r = {arg("echo.demo.svc:80"), arg(""), 200, arg("")};
    char scratch[8];
    ts_str out[TS_HTTP_LABELS];
    ts_http_labels(c, held, &r, scratch, out);
    printf("{\"clears\":%llu,\"labels\":[", (unsigned long long)ts_cache_stats_get().clears);
    for (int i = 0; i < TS_HTTP_LABELS; i++) {
      if (i) putchar(',');
      json_str(out[i]);
    }
    printf("]}\n");
    ts_peer_release(held);
    ts_cache_reset();
    ts_config_free(c);
    return 0;
  }
  if (argc >= 5 && strcmp(argv[1], "cache") == 0) {
    ts_config* c = load_config(argv[2]);
    if (c == NULL) return 0;
    int repeats = atoi(argv[3]);
    for (int r = 0; r < repeats; r++)
      for (int i = 4; i < argc; i++) ts_peer_release(ts_peer_lookup(c, arg(argv[i])));
    ts_cache_stats s = ts_cache_stats_get();
    printf("{\"hits\":%llu,\"decodes\":%llu,\"failures\":%llu,\"clears\":%llu}\n", (unsigned long long)s.hits,
           (unsigned long long)s.decodes, (unsigned long long)s.failures, (unsigned long long)s.clears);
    ts_cache_reset();
    ts_config_free(c);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "tcp-labels") == 0) {
    ts_config* c = load_config(argv[2]);
    if (c == NULL) return 0;
    const ts_peer* peer = ts_peer_lookup(c, arg(""));
    ts_str out[TS_TCP_LABELS];
    ts_tcp_labels(c, peer, arg(argv[3]), out);
    putchar('[');
    for (int i = 0; i < TS_TCP_LABELS; i++) {
      printf(i ? ",[" : "[");
      json_str(arg(ts_tcp_label_names[i]));
      putchar(',');
      json_str(out[i]);
      putchar(']');
    }
    printf("]\n");
    ts_peer_release(peer);
    ts_config_free(c);
    return 0;
  }
  fprintf(stderr, "usage: see the comment at the top of tstats_driver.c\n");
  return 2;
}
