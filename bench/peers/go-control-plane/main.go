// gcp-peer: a go-control-plane xDS server used as a benchmark peer for meshctl.
//
// It never generates configuration. It loads pre-serialized Envoy v3 resources
// (produced by meshctl) from a JSON snapshot file, keeps ONE snapshot per scope
// in go-control-plane's SnapshotCache (ADS mode; many nodes share a scope, as in
// Envoy Gateway) and serves them over ADS (SotW and Delta). A small HTTP API
// mutates the snapshots to drive churn. See README.md for the wire contract.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/log"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"

	// Extension types that meshctl packs into Any fields. Linking them registers
	// them in the global proto registry (the HCM is what the snapshot's
	// resource-reference code unpacks to find RDS names).
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// The four resource types served, in the order used for snapshots.
var typeURLs = []string{
	resourcev3.ClusterType,
	resourcev3.EndpointType,
	resourcev3.ListenerType,
	resourcev3.RouteType,
}

func newMessage(typeURL string) (proto.Message, error) {
	switch typeURL {
	case resourcev3.ClusterType:
		return &clusterv3.Cluster{}, nil
	case resourcev3.EndpointType:
		return &endpointv3.ClusterLoadAssignment{}, nil
	case resourcev3.ListenerType:
		return &listenerv3.Listener{}, nil
	case resourcev3.RouteType:
		return &routev3.RouteConfiguration{}, nil
	}
	return nil, fmt.Errorf("unsupported typeUrl %q", typeURL)
}

// ---- wire format ----

type wireResource struct {
	TypeURL string `json:"typeUrl,omitempty"`
	Name    string `json:"name"`
	B64     string `json:"b64"`
}

type wireScope struct {
	Version   string                    `json:"version"`
	Resources map[string][]wireResource `json:"resources"`
}

type wireFile struct {
	Scopes map[string]wireScope `json:"scopes"`
}

// decoder unmarshals b64 payloads, sharing identical payloads between scopes
// (resources are immutable once decoded, so sharing is safe).
type decoder struct {
	seen map[string]types.Resource // key: typeURL + "\x00" + b64
}

func newDecoder() *decoder { return &decoder{seen: map[string]types.Resource{}} }

func (d *decoder) decode(typeURL, name, b64 string) (types.Resource, error) {
	key := typeURL + "\x00" + b64
	if m, ok := d.seen[key]; ok {
		if got := cachev3.GetResourceName(m); got != name {
			return nil, fmt.Errorf("%s %q: payload names the resource %q", typeURL, name, got)
		}
		return m, nil
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%s %q: bad base64: %w", typeURL, name, err)
	}
	m, err := newMessage(typeURL)
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("%s %q: unmarshal: %w", typeURL, name, err)
	}
	if got := cachev3.GetResourceName(m); got != name {
		return nil, fmt.Errorf("%s %q: payload names the resource %q", typeURL, name, got)
	}
	d.seen[key] = m
	return m, nil
}

// ---- scope state ----

type scope struct {
	base     string                               // last version given for the scope
	versions map[string]string                    // typeURL -> version of that type
	res      map[string]map[string]types.Resource // typeURL -> name -> resource
}

func (d *decoder) buildScope(ws wireScope) (*scope, error) {
	s := &scope{base: ws.Version, versions: map[string]string{}, res: map[string]map[string]types.Resource{}}
	for _, t := range typeURLs {
		s.versions[t] = ws.Version
		s.res[t] = map[string]types.Resource{}
	}
	for t, list := range ws.Resources {
		if _, err := newMessage(t); err != nil {
			return nil, err
		}
		for _, r := range list {
			m, err := d.decode(t, r.Name, r.B64)
			if err != nil {
				return nil, err
			}
			s.res[t][r.Name] = m
		}
	}
	return s, nil
}

func (s *scope) snapshot() *cachev3.Snapshot {
	snap := &cachev3.Snapshot{}
	for _, t := range typeURLs {
		items := make([]types.Resource, 0, len(s.res[t]))
		for _, m := range s.res[t] {
			items = append(items, m)
		}
		snap.Resources[cachev3.GetResponseType(t)] = cachev3.NewResources(s.versions[t], items)
	}
	return snap
}

type peer struct {
	mu            sync.Mutex
	scopes        map[string]*scope
	inconsistent  map[string]bool // scopes whose last Consistent() failed (logged once)
	cache         cachev3.SnapshotCache
	checkConsist  bool
	counter       uint64
	snapshotsSet  atomic.Int64
	streams       atomic.Int64
	streamsTotal  atomic.Int64
	responses     atomic.Int64
	consistErrors atomic.Int64
}

// setLocked installs the snapshot of one scope; p.mu must be held.
func (p *peer) setLocked(id string, s *scope) error {
	snap := s.snapshot()
	if p.checkConsist {
		if err := snap.Consistent(); err != nil {
			p.consistErrors.Add(1)
			if !p.inconsistent[id] {
				fmt.Fprintf(os.Stderr, "gcp-peer: scope %q: snapshot not consistent (set anyway): %v\n", id, err)
			}
			p.inconsistent[id] = true
		} else {
			delete(p.inconsistent, id)
		}
	}
	if err := p.cache.SetSnapshot(context.Background(), id, snap); err != nil {
		return err
	}
	p.scopes[id] = s
	p.snapshotsSet.Add(1)
	return nil
}

func (p *peer) nextVersion(base string) string {
	p.counter++
	if base == "" {
		return "c" + strconv.FormatUint(p.counter, 10)
	}
	return base + "-c" + strconv.FormatUint(p.counter, 10)
}

// ---- node -> scope ----

type scopeHash struct{}

// metaString returns a non-empty string field of the node metadata.
func metaString(n *corev3.Node, key string) (string, bool) {
	v := n.GetMetadata().GetFields()[key]
	if sv := v.GetStringValue(); sv != "" {
		return sv, true
	}
	return "", false
}

func (scopeHash) ID(n *corev3.Node) string {
	if n == nil {
		return ""
	}
	if s, ok := metaString(n, "MESHCTL_SCOPE"); ok {
		return s
	}
	id := n.GetId()
	kind := "sidecar"
	if g, _ := metaString(n, "GENERATOR"); g == "grpc" || strings.HasPrefix(id, "grpc~") {
		kind = "grpc"
	}
	ns, ok := metaString(n, "NAMESPACE")
	if !ok {
		// Istio node id: type~ip~pod.ns~ns.svc.cluster.local
		parts := strings.Split(id, "~")
		if len(parts) == 4 {
			if dom := parts[3]; dom != "" {
				ns, _, _ = strings.Cut(dom, ".")
			}
			if ns == "" {
				if _, after, found := strings.Cut(parts[2], "."); found {
					ns = after
				}
			}
		}
	}
	return kind + "/" + ns
}

// ---- HTTP API ----

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

const maxBody = 1 << 30

func (p *peer) handlePostResources(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Resources []wireResource `json:"resources"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&body); err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	dec := newDecoder()
	type upd struct {
		t, name string
		m       types.Resource
	}
	upds := make([]upd, 0, len(body.Resources))
	for _, wr := range body.Resources {
		m, err := dec.decode(wr.TypeURL, wr.Name, wr.B64)
		if err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		upds = append(upds, upd{wr.TypeURL, wr.Name, m})
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.scopes))
	for id := range p.scopes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	scopesUpdated, replaced := 0, 0
	for _, id := range ids {
		old := p.scopes[id]
		var next *scope
		changed := map[string]bool{}
		for _, u := range upds {
			if _, ok := old.res[u.t][u.name]; !ok {
				continue
			}
			if next == nil {
				next = &scope{base: old.base, versions: map[string]string{}, res: map[string]map[string]types.Resource{}}
				for t, v := range old.versions {
					next.versions[t] = v
				}
				for t, m := range old.res {
					next.res[t] = m // copied on write below
				}
			}
			if !changed[u.t] {
				cp := make(map[string]types.Resource, len(old.res[u.t]))
				for k, v := range old.res[u.t] {
					cp[k] = v
				}
				next.res[u.t] = cp
				changed[u.t] = true
			}
			next.res[u.t][u.name] = u.m
			replaced++
		}
		if next == nil {
			continue
		}
		v := p.nextVersion(old.base)
		for t := range changed {
			next.versions[t] = v
		}
		if err := p.setLocked(id, next); err != nil {
			httpError(w, http.StatusInternalServerError, fmt.Errorf("scope %q: %w", id, err))
			return
		}
		scopesUpdated++
	}
	writeJSON(w, http.StatusOK, map[string]int{"scopesUpdated": scopesUpdated, "resourcesReplaced": replaced})
}

func (p *peer) handlePutScope(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("scopeId")
	if id == "" {
		httpError(w, http.StatusBadRequest, errors.New("missing scope id"))
		return
	}
	var ws wireScope
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&ws); err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	s, err := newDecoder().buildScope(ws)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.scopes[id]; ok {
		// Per type: keep the version when the content is unchanged, otherwise
		// make sure the version differs from the one clients already have.
		for _, t := range typeURLs {
			if sameResources(old.res[t], s.res[t]) {
				s.versions[t] = old.versions[t]
			} else if s.versions[t] == old.versions[t] {
				s.versions[t] = p.nextVersion(ws.Version)
			}
		}
	}
	if err := p.setLocked(id, s); err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"scope": id, "versions": s.versions})
}

func sameResources(a, b map[string]types.Resource) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !(v == w || proto.Equal(v, w)) {
			return false
		}
	}
	return true
}

func (p *peer) handleStats(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	n := len(p.scopes)
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int64{
		"scopes":            int64(n),
		"nodes":             p.streams.Load(),
		"snapshotsSet":      p.snapshotsSet.Load(),
		"streamsTotal":      p.streamsTotal.Load(),
		"responses":         p.responses.Load(),
		"consistencyErrors": p.consistErrors.Load(),
	})
}

// ---- main ----

func main() {
	xdsAddr := flag.String("xds", "127.0.0.1:0", "gRPC ADS listen address")
	httpAddr := flag.String("http", "127.0.0.1:0", "HTTP control API listen address")
	snapFile := flag.String("snapshots", "", "snapshot file (JSON, see README.md)")
	consistency := flag.Bool("consistency-check", true, "run snapshot.Consistent() on every SetSnapshot (failures are logged, never fatal)")
	verbose := flag.Bool("v", false, "log go-control-plane warnings/info to stderr")
	flag.Parse()
	if err := run(*xdsAddr, *httpAddr, *snapFile, *consistency, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "gcp-peer:", err)
		os.Exit(1)
	}
}

func run(xdsAddr, httpAddr, snapFile string, consistency, verbose bool) error {
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "gcp-peer: "+f+"\n", a...) }
	logger := log.LoggerFuncs{ErrorFunc: logf}
	if verbose {
		logger.WarnFunc = logf
		logger.InfoFunc = logf
	}

	p := &peer{
		scopes:       map[string]*scope{},
		inconsistent: map[string]bool{},
		// ads=false: in ADS mode the snapshot cache answers a SotW request only when it names
		// every resource of that type in the snapshot, so proxyless gRPC clients (which ask for a
		// few listeners out of many) would never be answered.
		cache:        cachev3.NewSnapshotCache(false, scopeHash{}, logger),
		checkConsist: consistency,
	}

	if snapFile != "" {
		raw, err := os.ReadFile(snapFile)
		if err != nil {
			return err
		}
		var f wireFile
		if err := json.Unmarshal(raw, &f); err != nil {
			return fmt.Errorf("%s: %w", snapFile, err)
		}
		raw = nil
		dec := newDecoder()
		p.mu.Lock()
		for id, ws := range f.Scopes {
			s, err := dec.buildScope(ws)
			if err != nil {
				p.mu.Unlock()
				return fmt.Errorf("scope %q: %w", id, err)
			}
			if err := p.setLocked(id, s); err != nil {
				p.mu.Unlock()
				return fmt.Errorf("scope %q: %w", id, err)
			}
		}
		p.mu.Unlock()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	open := func(context.Context, int64, string) error { p.streams.Add(1); p.streamsTotal.Add(1); return nil }
	closed := func(int64, *corev3.Node) { p.streams.Add(-1) }
	cbs := serverv3.CallbackFuncs{
		StreamOpenFunc:        open,
		StreamClosedFunc:      closed,
		DeltaStreamOpenFunc:   open,
		DeltaStreamClosedFunc: closed,
		StreamResponseFunc: func(context.Context, int64, *discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {
			p.responses.Add(1)
		},
		StreamDeltaResponseFunc: func(int64, *discoveryv3.DeltaDiscoveryRequest, *discoveryv3.DeltaDiscoveryResponse) {
			p.responses.Add(1)
		},
	}
	xdsServer := serverv3.NewServer(ctx, p.cache, cbs)

	grpcServer := grpc.NewServer(
		grpc.MaxConcurrentStreams(100000),
		grpc.MaxRecvMsgSize(16<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(grpcServer, xdsServer)

	xl, err := net.Listen("tcp", xdsAddr)
	if err != nil {
		return err
	}
	hl, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return err
	}

	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("POST /resources", p.handlePostResources)
	mux.HandleFunc("PUT /scopes/{scopeId...}", p.handlePutScope)
	mux.HandleFunc("GET /stats", p.handleStats)
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
	})
	httpServer := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- grpcServer.Serve(xl) }()
	go func() {
		if err := httpServer.Serve(hl); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	ready.Store(true)

	line, _ := json.Marshal(map[string]string{"xds": xl.Addr().String(), "http": hl.Addr().String()})
	if _, err := os.Stdout.Write(append(line, '\n')); err != nil {
		return err
	}

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sigc:
	case err := <-errc:
		return err
	}
	cancel()
	_ = httpServer.Close()
	grpcServer.Stop()
	return nil
}
