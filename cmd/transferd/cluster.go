package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/transferd/transferd/transfer"
)

// A cluster is transferd replicas joined over NATS (cluster.nats_url) into
// one API and one event stream: each replica answers for the nodes it
// serves and publishes their transfer events, so the REST API of any
// replica lists every node's calls, transfers any of them, and streams
// every transfer. Nothing else is shared: a replica holds nothing another
// needs (Asterisk holds the calls).
//
// Subjects:
//
//	transferd.node.<node>    requests for a node's calls (clusterRequest),
//	                         answered by the replica that serves the node
//	transferd.replicas       every second, each replica's name and the
//	                         nodes it serves (announcement)
//	transferd.events.<node>  each transfer event, as GET /v1/events shows it
const (
	subjectNode     = "transferd.node."
	subjectReplicas = "transferd.replicas"
	subjectEvents   = "transferd.events."
)

// announceEvery is how often a replica says which nodes it serves; a
// replica not heard for announcedFor is taken as gone.
const (
	announceEvery = time.Second
	announcedFor  = 3 * announceEvery
)

// clusterRequest asks the replica serving a node for its calls or to act
// on one of them.
type clusterRequest struct {
	Op      string                    `json:"op"` // calls, transfer, complete, cancel
	CallID  string                    `json:"call_id,omitempty"`
	Command *transfer.TransferCommand `json:"command,omitempty"`
}

// clusterReply is its answer: an HTTP status as the REST API would give
// it, and the result.
type clusterReply struct {
	Status     int                 `json:"status"`
	Error      string              `json:"error,omitempty"`
	Calls      []transfer.CallInfo `json:"calls,omitempty"`
	TransferID string              `json:"transfer_id,omitempty"`
}

// announcement is a replica's list of the nodes it serves.
type announcement struct {
	Replica string    `json:"replica"`
	Nodes   []string  `json:"nodes"`
	heard   time.Time // (when this replica heard it)
}

// remoteError is a failure another replica reported, or the lack of an
// answer: the REST API passes its status on.
type remoteError struct {
	status int
	msg    string
}

func (e *remoteError) Error() string { return e.msg }

// cluster is this replica's part in the cluster; it is the REST API's
// callsBackend.
type cluster struct {
	nc      *nats.Conn
	replica string
	timeout time.Duration
	log     *zap.Logger
	local   *nodeSet      // set by serve before run
	closed  chan struct{} // closed once the NATS connection is

	// kick asks run for a round now (a node connected or left).
	kick chan struct{}

	mu       sync.Mutex
	replicas map[string]announcement       // other replicas, by name
	serving  map[string]*nats.Subscription // this replica's nodes' request subscriptions
}

// joinCluster connects to NATS and streams every replica's transfer events
// into events. It keeps reconnecting while NATS is down; the API then
// answers for this replica's nodes only.
func joinCluster(cfg *Config, events *broadcaster, log *zap.Logger) (*cluster, error) {
	c := &cluster{replica: cfg.Cluster.Replica, timeout: cfg.Cluster.RequestTimeout, log: log, kick: make(chan struct{}, 1),
		closed:   make(chan struct{}),
		replicas: map[string]announcement{}, serving: map[string]*nats.Subscription{}}
	nc, err := nats.Connect(cfg.Cluster.NATSURL,
		nats.Name("transferd "+c.replica),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // (nil: this replica closed it)
				log.Warn("cluster: NATS connection lost; the API answers for this replica's nodes until it is back", zap.Error(err))
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("cluster: NATS connection back", zap.String("server", nc.ConnectedUrlRedacted()))
		}))
	if err != nil {
		return nil, fmt.Errorf("cluster.nats_url %s: %w", cfg.Cluster.NATSURL, err)
	}
	c.nc = nc
	if _, err := nc.Subscribe(subjectEvents+">", func(m *nats.Msg) { events.publish(m.Data) }); err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: subscribe to events: %w", err)
	}
	if _, err := nc.Subscribe(subjectReplicas, c.heard); err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: subscribe to announcements: %w", err)
	}
	log.Info("cluster: joined", zap.String("nats", cfg.Cluster.NATSURL), zap.String("replica", c.replica))
	return c, nil
}

// TransferEvent publishes a transfer event of one of this replica's nodes
// to the cluster (transfer.Observer); every replica's stream gets it back.
func (c *cluster) TransferEvent(ev transfer.TransferEvent) {
	data, _ := json.Marshal(eventJSON(ev))
	if err := c.nc.Publish(subjectEvents+ev.Node, data); err != nil {
		c.log.Warn("cluster: publishing a transfer event failed", zap.String("node", ev.Node), zap.Error(err))
	}
}

// run answers for the nodes this replica serves (c.local) and announces
// them, until ctx ends.
func (c *cluster) run(ctx context.Context) {
	tick := time.NewTicker(announceEvery)
	defer tick.Stop()
	for {
		c.serveNodes()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-c.kick:
		}
	}
}

// serveNodes subscribes to the requests of each node this replica serves
// (its Asterisk is connected here), drops those it no longer serves, and
// announces the list.
func (c *cluster) serveNodes() {
	var served []string
	for _, n := range c.local.all() {
		c.mu.Lock()
		sub := c.serving[n.name]
		c.mu.Unlock()
		switch {
		case n.connected() && sub == nil:
			sub, err := c.nc.Subscribe(subjectNode+n.name, func(m *nats.Msg) { go c.answer(n, m) })
			if err != nil {
				c.log.Warn("cluster: cannot answer for node", zap.String("node", n.name), zap.Error(err))
				continue
			}
			c.mu.Lock()
			c.serving[n.name] = sub
			c.mu.Unlock()
		case !n.connected() && sub != nil:
			sub.Unsubscribe()
			c.mu.Lock()
			delete(c.serving, n.name)
			c.mu.Unlock()
		}
		if n.connected() {
			served = append(served, n.name)
		}
	}
	data, _ := json.Marshal(announcement{Replica: c.replica, Nodes: served})
	c.nc.Publish(subjectReplicas, data)
}

// heard records another replica's announcement.
func (c *cluster) heard(m *nats.Msg) {
	var a announcement
	if err := json.Unmarshal(m.Data, &a); err != nil || a.Replica == c.replica {
		return
	}
	a.heard = time.Now()
	c.mu.Lock()
	c.replicas[a.Replica] = a
	c.mu.Unlock()
}

// remoteNodes are the nodes other replicas announced lately and this one
// does not serve. A node whose Asterisk has just connected here is served
// here even before serveNodes (each second) subscribes to its requests:
// the announcement of the replica it left (killed) still names it for up
// to announcedFor, and asking for it over NATS would find no responder
// and answer 503 for calls this replica holds.
func (c *cluster) remoteNodes() []string {
	here := map[string]bool{}
	for _, n := range c.local.all() {
		here[n.name] = n.connected()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name, a := range c.replicas {
		if time.Since(a.heard) > announcedFor {
			delete(c.replicas, name)
			continue
		}
		for _, n := range a.Nodes {
			if !here[n] && c.serving[n] == nil && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// answer handles a request for one of this replica's nodes. A node whose
// Asterisk has moved to another replica stays silent: that one answers.
func (c *cluster) answer(n *node, m *nats.Msg) {
	if !n.connected() {
		return
	}
	var req clusterRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		c.respond(m, clusterReply{Status: http.StatusBadRequest, Error: "cluster request: " + err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var reply clusterReply
	var err error
	switch req.Op {
	case "calls":
		reply.Calls, err = n.engine.Calls(ctx)
	case "transfer":
		if req.Command == nil {
			err = errors.New("transfer: no command")
			break
		}
		reply.TransferID, err = n.engine.StartTransfer(ctx, req.CallID, *req.Command)
	case "complete":
		err = n.engine.CompleteTransfer(ctx, req.CallID)
	case "cancel":
		err = n.engine.CancelTransfer(ctx, req.CallID)
	default:
		err = fmt.Errorf("cluster request: unknown op %q", req.Op)
	}
	reply.Status = http.StatusOK
	if err != nil {
		reply.Status, reply.Error = statusOf(err), err.Error()
	}
	c.respond(m, reply)
}

func (c *cluster) respond(m *nats.Msg, reply clusterReply) {
	data, _ := json.Marshal(reply)
	if err := m.Respond(data); err != nil {
		c.log.Warn("cluster: answering a request failed", zap.String("subject", m.Subject), zap.Error(err))
	}
}

// ask sends a request to the replica serving node.
func (c *cluster) ask(ctx context.Context, node string, req clusterRequest) (clusterReply, error) {
	data, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(ctx, subjectNode+node, data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return clusterReply{}, &remoteError{http.StatusServiceUnavailable, "node " + node + ": no replica serves it now"}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return clusterReply{}, &remoteError{http.StatusServiceUnavailable, fmt.Sprintf("node %s: no replica answered within %s (cluster.request_timeout)", node, c.timeout)}
	case err != nil:
		return clusterReply{}, &remoteError{http.StatusServiceUnavailable, "node " + node + ": " + err.Error()}
	}
	var reply clusterReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return clusterReply{}, &remoteError{http.StatusBadGateway, "node " + node + ": unreadable answer: " + err.Error()}
	}
	return reply, nil
}

// Calls lists the calls of every node of the cluster (callsBackend).
func (c *cluster) Calls(ctx context.Context) ([]transfer.CallInfo, error) {
	// (A node whose Asterisk moved to another replica is that one's to
	// list: its calls here are stale.)
	calls, err := c.local.calls(ctx, true)
	if err != nil {
		return nil, err
	}
	replies, errs := c.askAll(ctx, c.remoteNodes(), clusterRequest{Op: "calls"})
	for i, r := range replies {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if r.Status != http.StatusOK {
			return nil, &remoteError{r.Status, r.Error}
		}
		calls = append(calls, r.Calls...)
	}
	return calls, nil
}

// askAll asks every node in nodes at once.
func (c *cluster) askAll(ctx context.Context, nodes []string, req clusterRequest) ([]clusterReply, []error) {
	replies, errs := make([]clusterReply, len(nodes)), make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		wg.Go(func() { replies[i], errs[i] = c.ask(ctx, node, req) })
	}
	wg.Wait()
	return replies, errs
}

// onCall performs req on the call callID, wherever it is: here, or on the
// node whose replica does not answer "no such call".
func (c *cluster) onCall(ctx context.Context, callID string, req clusterRequest, here func(*transfer.Engine) (string, error)) (string, error) {
	if engine, err := c.local.find(callID, true); err == nil {
		return here(engine)
	}
	req.CallID = callID
	nodes := c.remoteNodes()
	replies, errs := c.askAll(ctx, nodes, req)
	var silent []string
	for i, r := range replies {
		switch {
		case errs[i] != nil:
			silent = append(silent, nodes[i])
		case r.Status == http.StatusNotFound:
		case r.Status >= 300:
			return "", &remoteError{r.Status, r.Error}
		default:
			return r.TransferID, nil
		}
	}
	if len(silent) > 0 {
		return "", &remoteError{http.StatusServiceUnavailable, fmt.Sprintf("call %q: not on this replica's nodes, and nodes %v did not answer", callID, silent)}
	}
	return "", fmt.Errorf("call %q: %w", callID, transfer.ErrNoSuchCall)
}

// StartTransfer transfers a call of any node of the cluster.
func (c *cluster) StartTransfer(ctx context.Context, callID string, cmd transfer.TransferCommand) (string, error) {
	return c.onCall(ctx, callID, clusterRequest{Op: "transfer", Command: &cmd}, func(e *transfer.Engine) (string, error) {
		return e.StartTransfer(ctx, callID, cmd)
	})
}

// CompleteTransfer completes an attended transfer of any node's call.
func (c *cluster) CompleteTransfer(ctx context.Context, callID string) error {
	_, err := c.onCall(ctx, callID, clusterRequest{Op: "complete"}, func(e *transfer.Engine) (string, error) {
		return "", e.CompleteTransfer(ctx, callID)
	})
	return err
}

// CancelTransfer cancels an attended transfer of any node's call.
func (c *cluster) CancelTransfer(ctx context.Context, callID string) error {
	_, err := c.onCall(ctx, callID, clusterRequest{Op: "cancel"}, func(e *transfer.Engine) (string, error) {
		return "", e.CancelTransfer(ctx, callID)
	})
	return err
}

// nodesChanged asks for a round at once: a node that connected here is
// answered for (and announced) without waiting for the next second.
func (c *cluster) nodesChanged() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// closeWait bounds how long leaving the cluster waits for the last
// events to go out.
const closeWait = 2 * time.Second

// close leaves the cluster, letting what was published go out first.
func (c *cluster) close() {
	if err := c.nc.Drain(); err != nil {
		c.nc.Close()
	}
	select {
	case <-c.closed:
	case <-time.After(closeWait):
		c.nc.Close()
	}
}
