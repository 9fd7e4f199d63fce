package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
	"github.com/transferd/transferd/transfer"
)

// ops is what an operator sees of a running transferd: Prometheus metrics,
// liveness and readiness. It observes transfers (transfer.Observer) and the
// ARI event stream (watch).
type ops struct {
	// onEvent: hooks.onEvent (nil: none).
	onEvent    func(ari.Event)
	log        *zap.Logger
	reg        *prometheus.Registry
	transfers  *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	reconnects *prometheus.CounterVec
	lag        prometheus.Histogram
	// nodes lists the Asterisk nodes served (nodeSet.all), read at
	// scrape and /readyz time.
	nodes func() []*node
	// outbound: Asterisk connects to transferd (ari.mode outbound). A
	// replica is ready while it listens for that connection (listening),
	// whether or not Asterisk is connected to it: any ready replica can
	// take it (a load balancer's health check).
	outbound  bool
	listening atomic.Bool
}

// newOps registers transferd's metrics. The nodes' gauges are read at
// scrape time, once newNodeSet has set o.nodes.
func newOps(log *zap.Logger) *ops {
	o := &ops{
		log:   log,
		reg:   prometheus.NewRegistry(),
		nodes: func() []*node { return nil },
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transferd_transfers_total",
			Help: "Transfers that ended, by node, kind (blind, attended, voicemail) and outcome (completed, voicemail, recalled, refused, failed, cancelled).",
		}, []string{"node", "kind", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "transferd_transfer_duration_seconds",
			Help: "Time from a transfer's start (REFER, *8) to its end, by node and kind.",
			// From a REFER answered in milliseconds to a target ringing
			// out after tens of seconds.
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60},
		}, []string{"node", "kind"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transferd_ari_reconnects_total",
			Help: "Times a node's ARI event stream was re-established after breaking.",
		}, []string{"node"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "transferd_event_lag_seconds",
			Help:    "Delay between Asterisk raising an event and transferd reading it.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}),
	}
	o.reg.MustRegister(o.transfers, o.duration, o.reconnects, o.lag, nodesCollector{o},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return o
}

// TransferEvent implements transfer.Observer.
func (o *ops) TransferEvent(ev transfer.TransferEvent) {
	if ev.Step != transfer.StepEnded {
		return
	}
	o.transfers.WithLabelValues(ev.Node, string(ev.Kind), string(ev.Outcome)).Inc()
	o.duration.WithLabelValues(ev.Node, string(ev.Kind)).Observe(ev.Elapsed.Seconds())
}

// observe tracks a node's stream, reconnects and lag from its ARI events
// (ari.Config.OnEvent: on the stream's goroutine, in order).
func (o *ops) observe(n *node, ev ari.Event) {
	switch ev.(type) {
	case *ari.Disconnected:
		n.wentDown.Store(time.Now().UnixNano())
		n.streamDown.Store(true)
		n.changed()
	case *ari.Reconnected:
		o.reconnects.WithLabelValues(n.name).Inc()
		n.connections.Add(1)
		n.wentDown.Store(0)
		n.streamDown.Store(false)
		n.changed()
	default:
		o.observeLag(ev)
	}
	if o.onEvent != nil {
		o.onEvent(ev)
	}
}

// downSince returns when the node's stream broke (zero: it is up).
func (n *node) downSince() time.Time {
	if ns := n.wentDown.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// connected: the node's event stream is up and its engine handles it.
func (n *node) connected() bool { return n.running.Load() && !n.streamDown.Load() }

// ready: in outbound mode, listening for Asterisk; in inbound mode, the
// node's event stream is connected and its engine handles it.
func (o *ops) ready() bool {
	if o.outbound {
		return o.listening.Load()
	}
	nodes := o.nodes()
	return len(nodes) > 0 && !slices.ContainsFunc(nodes, func(n *node) bool { return !n.connected() })
}

func (o *ops) observeLag(ev ari.Event) {
	if stamped, ok := ev.(interface{ Time() (time.Time, bool) }); ok {
		if t, ok := stamped.Time(); ok {
			o.lag.Observe(max(time.Since(t), 0).Seconds())
		}
	}
}

// handler serves /metrics, /healthz (the process runs) and /readyz (ARI is
// connected: calls entering Stasis reach transferd).
func (o *ops) handler(extra func(*http.ServeMux)) http.Handler {
	mux := http.NewServeMux()
	if extra != nil {
		extra(mux)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{Registry: o.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		// The body also says how phones' transfers are handled and why:
		// what an operator checks after upgrading Asterisk.
		handling := ""
		for _, n := range o.nodes() {
			if d := n.engine.Handling(); d.Mode != "" {
				handling += "node " + n.name + ": " + d.String() + "\n"
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !o.ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: ARI event stream not connected\n" + handling))
			return
		}
		w.Write([]byte("ready\n" + handling))
	})
	return mux
}

// nodesCollector exposes, read at scrape time, the calls in progress and
// whether Asterisk is connected, for the whole transferd (the series a
// single-node deployment watches) and per node, and each node's transfer
// handling as transferd_transfer_handling{node,mode,configured,asterisk}
// 1: a label, so an alert can fire when a PBX runs on the core fallback.
type nodesCollector struct{ o *ops }

var (
	activeCallsDesc = prometheus.NewDesc("transferd_active_calls",
		"Calls transferd is handling now, on every node.", nil, nil)
	connectedDesc = prometheus.NewDesc("transferd_ari_connected",
		"1 while an ARI event stream is connected (outbound mode: while an Asterisk's connection is this replica's).", nil, nil)
	nodeActiveCallsDesc = prometheus.NewDesc("transferd_node_active_calls",
		"Calls transferd is handling now on the node.", []string{"node"}, nil)
	nodeConnectedDesc = prometheus.NewDesc("transferd_node_connected",
		"1 while the node's ARI event stream is connected to this transferd.", []string{"node"}, nil)
	handlingDesc = prometheus.NewDesc("transferd_transfer_handling",
		"Transfer handling in use (1) on the node: mode (ari-only or core), as configured (auto, ari-only, core), for the Asterisk version connected.",
		[]string{"node", "mode", "configured", "asterisk"}, nil)
)

func (nodesCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{activeCallsDesc, connectedDesc, nodeActiveCallsDesc, nodeConnectedDesc, handlingDesc} {
		ch <- d
	}
}

func (c nodesCollector) Collect(ch chan<- prometheus.Metric) {
	total, anyConnected := 0, 0.0
	for _, n := range c.o.nodes() {
		active, connected := n.engine.ActiveCalls(), 0.0
		if n.connected() {
			connected, anyConnected = 1, 1
		}
		total += active
		ch <- prometheus.MustNewConstMetric(nodeActiveCallsDesc, prometheus.GaugeValue, float64(active), n.name)
		ch <- prometheus.MustNewConstMetric(nodeConnectedDesc, prometheus.GaugeValue, connected, n.name)
		if d := n.engine.Handling(); d.Mode != "" { // ("": not connected yet)
			ch <- prometheus.MustNewConstMetric(handlingDesc, prometheus.GaugeValue, 1, n.name, d.Mode, d.Configured, d.Asterisk)
		}
	}
	ch <- prometheus.MustNewConstMetric(activeCallsDesc, prometheus.GaugeValue, float64(total))
	ch <- prometheus.MustNewConstMetric(connectedDesc, prometheus.GaugeValue, anyConnected)
}

// servePprof adds Go's profiler (http.pprof): CPU, heap, goroutines.
func servePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// serveHTTP runs the operator endpoints on addr until ctx ends. An empty
// addr disables them.
func (o *ops) serveHTTP(ctx context.Context, addr string, extra func(*http.ServeMux)) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: o.handler(extra), ReadHeaderTimeout: 5 * time.Second}
	stop = runServer(srv, func() error { return srv.Serve(ln) }, func(err error) {
		o.log.Error("operator HTTP server failed", zap.Error(err))
	})
	o.log.Info("operator endpoints listening", zap.String("addr", ln.Addr().String()),
		zap.Strings("paths", []string{"/metrics", "/healthz", "/readyz"}))
	return stop, nil
}

// runServer runs serve (srv's Serve or ServeTLS) on its own goroutine and
// returns the function that shuts srv down and waits for it; failed gets a
// failure other than the shutdown.
func runServer(srv *http.Server, serve func() error, failed func(error)) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			failed(err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}
}
