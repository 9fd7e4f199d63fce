package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
	"github.com/transferd/transferd/transfer"
)

// node is one Asterisk this transferd serves: its ARI client, its engine
// and what the operator endpoints report of it. Inbound mode serves one
// (ari.node); in outbound mode every Asterisk that connects is a node of
// its own (path /ari/<name>), with an engine of its own: nodes share
// nothing, so one Asterisk's trouble never reaches another's calls.
type node struct {
	name   string
	log    *zap.Logger
	client *ari.Client
	engine *transfer.Engine
	// running: the engine handles events (set once calls in progress
	// were adopted); streamDown: the event stream broke and is not back
	// yet.
	running, streamDown atomic.Bool
	// connections counts the event stream's connections (appCheck).
	connections atomic.Uint64
	// wentDown: when the stream broke (unix ns; 0 while it is up).
	wentDown atomic.Int64
	// retire ends the node's engine (retireStaleNodes).
	retire context.CancelFunc
	done   chan struct{} // closed when run has returned
	err    error         // run's result, once done
	// changed is told when the node starts running, and when its stream
	// breaks or comes back (nodeSet.onChange).
	changed func()
}

// newNode builds a node's client and engine; run starts them.
func newNode(cfg *Config, name string, log *zap.Logger, o *ops, events transfer.Observer) (*node, error) {
	n := &node{name: name, log: log.With(zap.String("node", name)), done: make(chan struct{})}
	client, err := ari.New(ari.Config{
		URL:      cfg.ARI.URL,
		Username: cfg.ARI.Username,
		Password: cfg.ARI.Password,
		App:      cfg.ARI.App,
		Logger:   n.log.Named("ari"),
		TLS:      cfg.ARI.tls,
		Events:   transfer.EventTypes(),
		// (Here rather than a goroutine relaying the stream to the
		// engine: one hand-off fewer per event.)
		OnEvent:      func(ev ari.Event) { o.observe(n, ev) },
		Outbound:     cfg.ARI.Mode == "outbound",
		RESTOverHTTP: cfg.ARI.Mode == "outbound" && cfg.ARI.REST == "http",
	})
	if err != nil {
		return nil, fmt.Errorf("ari client of node %s: %w", name, err)
	}
	engineCfg := cfg.Engine()
	engineCfg.Node = name
	n.engine, err = transfer.New(engineCfg, transfer.NewARIAsterisk(client, cfg.ARI.App), transfer.Options{
		Logger:   n.log.Named("transfer"),
		Observer: observers{o, events},
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	n.client = client
	return n, nil
}

// run connects the node's event stream, waits for its Asterisk, adopts
// the calls in progress and handles events until engineCtx ends. If ctx
// (the daemon's) ends before the engine runs, run returns nil.
func (n *node) run(ctx, engineCtx context.Context, cfg *Config) (err error) {
	defer func() {
		n.err = err
		close(n.done)
	}()
	stream, err := subscribe(ctx, engineCtx, n.client, cfg, n.log.Named("ari"))
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	if err := awaitAsterisk(ctx, n.client, n.log.Named("ari")); err != nil {
		return nil
	}
	// Which transfer handling this Asterisk gets (logged), before any
	// call is adopted or arrives.
	n.engine.CheckAsterisk(ctx)
	check := &appCheck{asterisk: n.client, app: cfg.ARI.App, log: n.log, every: cfg.ARI.appCheckEvery,
		connection: n.connections.Load, connected: n.connected}
	check.served(ctx)
	// Calls a previous transferd left (restart, crash) are taken over
	// before new events are handled.
	adoptStart := time.Now()
	if adopted, err := n.engine.Adopt(ctx); err != nil {
		n.log.Error("adopting calls in progress failed; they are left as they are", zap.Error(err))
	} else if adopted > 0 {
		// (took: most of a takeover under load; internal/loadtest/ha.md.)
		n.log.Info("adopted calls in progress", zap.Int("calls", adopted), zap.Duration("took", time.Since(adoptStart)))
	}
	n.connections.Add(1)
	n.running.Store(true)
	n.changed()
	go check.watch(engineCtx)
	n.log.Info("transferd running", zap.String("ari", cfg.ARI.URL), zap.String("mode", cfg.ARI.Mode), zap.String("app", cfg.ARI.App))
	err = n.engine.Run(engineCtx, stream)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// nodeSet is the nodes a transferd serves, by name. In outbound mode a
// node starts when its Asterisk first connects and lives as long as the
// process: Asterisk may come back to this replica, and the engine then
// reconciles its calls with what Asterisk holds.
type nodeSet struct {
	cfg    *Config
	log    *zap.Logger
	ops    *ops
	events transfer.Observer
	// ctx is the daemon's (SIGTERM ends it, and so does stop), engineCtx
	// the engines' (they outlive ctx until their hand-over; stop ends
	// them).
	ctx, engineCtx         context.Context
	cancelCtx, stopEngines context.CancelFunc

	// onChange is told when a node starts running or its stream breaks
	// or comes back (the cluster announces at once); set before the
	// first node starts.
	onChange func()

	// refusals: the outbound connections refused, each kind told once.
	refusals *refusals
	// staleAfter: how long a node's Asterisk may be away before its
	// engine is retired (staleNodeAfter; tests shorten it).
	staleAfter time.Duration

	mu    sync.Mutex
	nodes map[string]*node
	wg    sync.WaitGroup
}

func newNodeSet(ctx context.Context, cfg *Config, log *zap.Logger, o *ops, events transfer.Observer) *nodeSet {
	engineCtx, stopEngines := context.WithCancel(context.WithoutCancel(ctx))
	ctx, cancelCtx := context.WithCancel(ctx)
	s := &nodeSet{cfg: cfg, log: log, ops: o, events: events, ctx: ctx, engineCtx: engineCtx,
		cancelCtx: cancelCtx, stopEngines: stopEngines, nodes: map[string]*node{}, onChange: func() {}, refusals: newRefusals(log.Named("ari")), staleAfter: staleNodeAfter}
	o.nodes = s.all
	return s
}

// start returns the node called name, starting it if it is new.
func (s *nodeSet) start(name string) (*node, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nodes[name]; n != nil {
		return n, nil
	}
	n, err := newNode(s.cfg, name, s.log, s.ops, s.events)
	if err != nil {
		return nil, err
	}
	n.changed = s.onChange
	s.nodes[name] = n
	ctx, stopWaiting := context.WithCancel(s.ctx)
	engineCtx, stopEngine := context.WithCancel(s.engineCtx)
	n.retire = func() { stopWaiting(); stopEngine() }
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer n.retire()
		if err := n.run(ctx, engineCtx, s.cfg); err != nil {
			n.log.Error("node stopped", zap.Error(err))
		}
	}()
	return n, nil
}

// all returns the nodes, by name.
func (s *nodeSet) all() []*node {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*node, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	return out
}

// activeCalls is the number of calls every node handles.
func (s *nodeSet) activeCalls() int {
	total := 0
	for _, n := range s.all() {
		total += n.engine.ActiveCalls()
	}
	return total
}

// serveAsterisk takes an Asterisk's outbound WebSocket (outbound mode):
// /ari is the node named ari.node, /ari/<name> the node <name>. A node's
// first connection starts its engine; credentials are checked first, so
// nobody without them makes transferd start one.
func (s *nodeSet) serveAsterisk(w http.ResponseWriter, r *http.Request) {
	if s.ctx.Err() != nil {
		http.Error(w, "transferd is stopping", http.StatusServiceUnavailable)
		return
	}
	name := r.PathValue("node")
	if name == "" {
		name = s.cfg.ARI.Node
	}
	if err := s.admits(name); err != nil {
		s.refusals.refused(name, "refused an Asterisk's outbound websocket: fix the path of websocket_client.conf's uri or ari.nodes",
			zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr), zap.Error(err))
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if !ari.Authorized(r, s.cfg.ARI.Username, s.cfg.ARI.Password) {
		user, _, _ := r.BasicAuth()
		s.refusals.refused(name, "refused an Asterisk's outbound websocket: wrong or missing credentials (websocket_client.conf username/password must match ari.username/ari.password)",
			zap.String("remote", r.RemoteAddr), zap.String("user", user))
		w.Header().Set("WWW-Authenticate", `Basic realm="transferd"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	n, err := s.start(name)
	if err != nil {
		s.refusals.refused(name, "cannot serve node", zap.Error(err))
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.refusals.accepted(name)
	n.client.OutboundHandler().ServeHTTP(w, r)
}

// admits says why a node name is refused, if it is.
func (s *nodeSet) admits(name string) error {
	if err := checkNodeName(name); err != nil {
		return err
	}
	if len(s.cfg.ARI.Nodes) > 0 && !slices.Contains(s.cfg.ARI.Nodes, name) && name != s.cfg.ARI.Node {
		return fmt.Errorf("node %q is not in ari.nodes %q", name, s.cfg.ARI.Nodes)
	}
	if s.cfg.ARI.REST == "http" && name != s.cfg.ARI.Node {
		// (ari.url is one Asterisk's HTTP server.)
		return fmt.Errorf("node %q: with ari.rest http only the node of ari.url (ari.node %q) can be served; use ari.rest websocket for several nodes", name, s.cfg.ARI.Node)
	}
	return nil
}

// handOver hands every running node's connection over (SIGTERM), all at
// once, and returns when each is done.
func (s *nodeSet) handOver() {
	var wg sync.WaitGroup
	for _, n := range s.all() {
		if !n.running.Load() {
			continue
		}
		wg.Go(func() { handOver(s.engineCtx, n.engine, n.client, n.log) })
	}
	wg.Wait()
}

// stop stops every node's engine, waits until each has returned and
// closes their clients. Calls in progress stay in Asterisk.
func (s *nodeSet) stop() {
	s.cancelCtx()
	s.stopEngines()
	s.wg.Wait()
	for _, n := range s.all() {
		n.client.Close()
	}
}

// engineOf returns the engine handling callID, or ErrNoSuchCall.
func (s *nodeSet) engineOf(callID string) (*transfer.Engine, error) { return s.find(callID, false) }

// find returns the engine handling callID, among the nodes connected here
// only if connectedOnly.
func (s *nodeSet) find(callID string, connectedOnly bool) (*transfer.Engine, error) {
	for _, n := range s.all() {
		if (!connectedOnly || n.connected()) && n.engine.HasCall(callID) {
			return n.engine, nil
		}
	}
	return nil, fmt.Errorf("call %q: %w", callID, transfer.ErrNoSuchCall)
}

// Calls lists every node's calls (callsBackend).
func (s *nodeSet) Calls(ctx context.Context) ([]transfer.CallInfo, error) { return s.calls(ctx, false) }

// calls lists the calls of the nodes, only those connected here if
// connectedOnly.
func (s *nodeSet) calls(ctx context.Context, connectedOnly bool) ([]transfer.CallInfo, error) {
	calls := []transfer.CallInfo{}
	for _, n := range s.all() {
		if connectedOnly && !n.connected() {
			continue
		}
		some, err := n.engine.Calls(ctx)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.name, err)
		}
		calls = append(calls, some...)
	}
	return calls, nil
}

// StartTransfer transfers a call of any node (callsBackend).
func (s *nodeSet) StartTransfer(ctx context.Context, callID string, cmd transfer.TransferCommand) (string, error) {
	engine, err := s.engineOf(callID)
	if err != nil {
		return "", err
	}
	return engine.StartTransfer(ctx, callID, cmd)
}

// CompleteTransfer completes an attended transfer of any node's call.
func (s *nodeSet) CompleteTransfer(ctx context.Context, callID string) error {
	engine, err := s.engineOf(callID)
	if err != nil {
		return err
	}
	return engine.CompleteTransfer(ctx, callID)
}

// CancelTransfer cancels an attended transfer of any node's call.
func (s *nodeSet) CancelTransfer(ctx context.Context, callID string) error {
	engine, err := s.engineOf(callID)
	if err != nil {
		return err
	}
	return engine.CancelTransfer(ctx, callID)
}
