package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
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
	log        *zap.Logger
	reg        *prometheus.Registry
	transfers  *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	reconnects prometheus.Counter
	lag        prometheus.Histogram
	// running: the engine handles events (set once calls in progress
	// were adopted); streamDown: the ARI event stream broke and is not
	// back yet. Ready is the one without the other: new calls reach us.
	running, streamDown atomic.Bool
	// outbound: Asterisk connects to transferd (ari.mode outbound). A
	// replica is ready while it listens for that connection (listening),
	// whether or not Asterisk is connected to it: any ready replica can
	// take it (a load balancer's health check).
	outbound  bool
	listening atomic.Bool
	// handling is the engine's transfer handling decision (read at scrape
	// and /readyz time).
	handling func() transfer.HandlingDecision
}

// newOps registers transferd's metrics; activeCalls and handling are read
// at scrape time.
func newOps(log *zap.Logger, activeCalls func() int, handling func() transfer.HandlingDecision) *ops {
	o := &ops{
		log:      log,
		handling: handling,
		reg:      prometheus.NewRegistry(),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transferd_transfers_total",
			Help: "Transfers that ended, by kind (blind, attended, voicemail) and outcome (completed, voicemail, recalled, refused, failed, cancelled).",
		}, []string{"kind", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "transferd_transfer_duration_seconds",
			Help: "Time from a transfer's start (REFER, *8) to its end, by kind.",
			// From a REFER answered in milliseconds to a target ringing
			// out after tens of seconds.
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60},
		}, []string{"kind"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "transferd_ari_reconnects_total",
			Help: "Times the ARI event stream was re-established after breaking.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "transferd_event_lag_seconds",
			Help:    "Delay between Asterisk raising an event and transferd reading it.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}),
	}
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "transferd_active_calls",
		Help: "Calls transferd is handling now.",
	}, func() float64 { return float64(activeCalls()) })
	connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "transferd_ari_connected",
		Help: "1 while the ARI event stream is connected (outbound mode: while Asterisk's connection is this replica's).",
	}, func() float64 {
		if o.running.Load() && !o.streamDown.Load() {
			return 1
		}
		return 0
	})
	o.reg.MustRegister(o.transfers, o.duration, o.reconnects, o.lag, active, connected, handlingCollector{o.handling},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return o
}

// TransferEvent implements transfer.Observer.
func (o *ops) TransferEvent(ev transfer.TransferEvent) {
	if ev.Step != transfer.StepEnded {
		return
	}
	o.transfers.WithLabelValues(string(ev.Kind), string(ev.Outcome)).Inc()
	o.duration.WithLabelValues(string(ev.Kind)).Observe(ev.Elapsed.Seconds())
}

// observe tracks readiness, reconnects and lag from the ARI event stream
// (ari.Config.OnEvent: on the stream's goroutine, in order).
func (o *ops) observe(ev ari.Event) {
	switch ev.(type) {
	case *ari.Disconnected:
		o.streamDown.Store(true)
	case *ari.Reconnected:
		o.reconnects.Inc()
		o.streamDown.Store(false)
	default:
		o.observeLag(ev)
	}
}

// ready: the ARI event stream is connected and the engine handles it.
func (o *ops) ready() bool {
	if o.outbound {
		return o.listening.Load()
	}
	return o.running.Load() && !o.streamDown.Load()
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
		if d := o.handling(); d.Mode != "" {
			handling = d.String() + "\n"
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

// handlingCollector exposes the transfer handling in use as
// transferd_transfer_handling{mode,configured,asterisk} 1: a label, so an
// alert can fire when a PBX runs on the core fallback.
type handlingCollector struct {
	decision func() transfer.HandlingDecision
}

var handlingDesc = prometheus.NewDesc("transferd_transfer_handling",
	"Transfer handling in use (1): mode (ari-only or core), as configured (auto, ari-only, core), for the Asterisk version connected.",
	[]string{"mode", "configured", "asterisk"}, nil)

func (handlingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- handlingDesc }

func (c handlingCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.decision()
	if d.Mode == "" {
		return // not connected yet
	}
	ch <- prometheus.MustNewConstMetric(handlingDesc, prometheus.GaugeValue, 1, d.Mode, d.Configured, d.Asterisk)
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
