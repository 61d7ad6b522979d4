/*
 * envoy_network_abi.h -- the part of Envoy 1.40's dynamic-module C ABI (v0.2.0) that the tstats TCP
 * filter uses: network-filter hooks and callbacks, and the bootstrap-extension hooks and labelled
 * counters that hold the TCP metrics. Our own declarations, not a copy of Envoy's abi.h; the
 * buffer, metrics-result and log types are envoy_abi.h's.
 *
 * Sources: Envoy's source/extensions/filters/network/dynamic_modules/{filter.cc,filter_config.cc,
 * factory.cc} and source/extensions/bootstrap/dynamic_modules/{extension.cc,extension_config.cc,
 * abi_impl.cc} at the revisions whose symbol set matches the 1.40.0 binary (network config_new
 * receives metrics_namespace; the bootstrap extension has no secret hooks). Checked against the
 * stock /usr/local/bin/envoy: hook names with `strings`, callback names with `nm -D`, and the
 * argument registers of every callback below with `objdump -d` (see the comments).
 *
 * Why a bootstrap extension: in 1.40 the network filter's own metric callbacks carry no labels
 * (network_filter_config_define_counter(config, name, *id) and network_filter_increment_counter
 * (filter, id, value): the disassembly reads only rdi/rsi/rdx/rcx and never a label array), so a
 * network filter cannot record Istio's 23 labels by itself. The bootstrap extension's counters do
 * take labels, are defined once at its config_new and are incremented with a config pointer from
 * any thread (1.40 encodes label values in a stack-local StatNameDynamicPool, as for HTTP).
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envoy_abi.h"

/* ------------------------------------------------------------------ network filter */

typedef const void* envoy_network_filter_config_envoy_ptr;
typedef const void* envoy_network_filter_config_module_ptr;
typedef void* envoy_network_filter_envoy_ptr;
typedef void* envoy_network_filter_module_ptr;

/* on_new_connection / on_read / on_write return 0 = Continue, 1 = StopIteration. */
typedef int envoy_network_filter_status;
#define ENVOY_NETWORK_CONTINUE 0

/* Network::ConnectionEvent, same order as Envoy's enum (filter.cc toAbiConnectionEvent). */
typedef enum {
  envoy_network_event_remote_close = 0,
  envoy_network_event_local_close = 1,
  envoy_network_event_connected = 2,
  envoy_network_event_connected_zero_rtt = 3,
} envoy_network_event;

/*
 * Hooks (required: config_new, config_destroy, new, new_connection, read, write, event, destroy;
 * filter_config.cc resolves the others as optional). Envoy calls:
 *   config_new(config_envoy, {filter_name}, {filter_config bytes}) -> NULL rejects the config
 *   new(config_module, filter_envoy) -> per-connection state
 *   read(filter_envoy, filter_module, data.length(), end_stream)   -- onData(), the read buffer
 *   write(filter_envoy, filter_module, data.length(), end_stream)  -- onWrite(), the write buffer
 *   event(filter_envoy, filter_module, event)
 *   destroy(filter_module)
 */

/* The cluster name of the connection's upstream host: false (and {NULL,0}) until tcp_proxy has
 * picked one. objdump: rdi = filter, rsi = out; writes {ptr,len} to *rsi. */
bool envoy_dynamic_module_callback_network_filter_get_upstream_host_cluster(envoy_network_filter_envoy_ptr filter,
                                                                           envoy_envoy_buffer* cluster_name_out);
/* objdump: rdi = filter only. */
bool envoy_dynamic_module_callback_network_filter_has_upstream_host(envoy_network_filter_envoy_ptr filter);

/* ------------------------------------------------------------------ bootstrap extension */

typedef void* envoy_bootstrap_config_envoy_ptr;
typedef const void* envoy_bootstrap_config_module_ptr;
typedef void* envoy_bootstrap_extension_envoy_ptr;
typedef const void* envoy_bootstrap_extension_module_ptr;

/* Called by the module on shutdown to let Envoy go on: completion(context). */
typedef void (*envoy_bootstrap_completion)(void* context);

/*
 * Hooks: all 17 are required in 1.40 (extension_config.cc returns an error for any missing one).
 *   config_new(config_envoy, {extension_name}, {extension_config bytes}) -> NULL rejects
 *   config_destroy(config_module)
 *   new(config_module, extension_envoy) -> non-NULL
 *   server_initialized / worker_thread_initialized / drain_started(extension_envoy, extension_module)
 *   shutdown(extension_envoy, extension_module, completion, context): must call completion(context)
 *   destroy(extension_module)
 * The rest (config_scheduled, http_callout_done, timer_fired, file_changed, admin_request,
 * cluster_add_or_update, cluster_removal, listener_add_or_update, listener_removal) only fire for
 * features the module enables; tstats enables none of them.
 * Envoy registers an init target per bootstrap extension: the module must signal it (once) or
 * Envoy never becomes ready. objdump: rdi = config only.
 */
void envoy_dynamic_module_callback_bootstrap_extension_config_signal_init_complete(
    envoy_bootstrap_config_envoy_ptr config);

/* Only during config_new (Frozen afterwards). Stats are `<metrics_namespace>.<name>` with the labels
 * as tags. objdump: rdi config, rsi/rdx name, rcx label_names, r8 count, r9 id out. */
envoy_metrics_result envoy_dynamic_module_callback_bootstrap_extension_config_define_counter(
    envoy_bootstrap_config_envoy_ptr config, envoy_module_buffer name, envoy_module_buffer* label_names,
    size_t label_names_length, size_t* counter_id);
/* Any thread. objdump: rdi config, rsi id, rdx label_values, rcx count (must equal the defined
 * count, else InvalidLabels), r8 value. */
envoy_metrics_result envoy_dynamic_module_callback_bootstrap_extension_config_increment_counter(
    envoy_bootstrap_config_envoy_ptr config, size_t counter_id, envoy_module_buffer* label_values,
    size_t label_values_length, uint64_t value);
