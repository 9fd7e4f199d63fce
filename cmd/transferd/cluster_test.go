package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap/zaptest"

	"github.com/transferd/transferd/transfer"
)

// clusterOf joins a replica with no node of its own to a NATS server on
// which the test plays the other replicas: they announce nodes and answer
// for them as answer says (nil: they never answer).
func clusterOf(t *testing.T, nodes map[string]func(clusterRequest) *clusterReply) *cluster {
	t.Helper()
	url := startNATS(t)
	cfg := exampleConfig(t)
	cfg.Cluster.NATSURL, cfg.Cluster.Replica, cfg.Cluster.RequestTimeout = url, "replica-a", 300*time.Millisecond
	log := zaptest.NewLogger(t)
	events := newBroadcaster(log)
	c, err := joinCluster(cfg, events, log)
	if err != nil {
		t.Fatal(err)
	}
	// Closed before the test ends: the drain ends in the disconnect
	// callback, which logs, and a log after the test panics. (close waits
	// for the closed callback, which runs after it, on the same
	// goroutine.)
	t.Cleanup(func() {
		c.close()
		select {
		case <-c.closed:
		default:
			t.Error("the cluster's NATS connection is not closed after close")
		}
	})
	// (Its subscriptions reach the server before the one announcement
	// below: a publish on another connection does not wait for them.)
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c.local = newNodeSet(ctx, cfg, log, newOps(log), c)
	t.Cleanup(c.local.stop)

	other, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	var names []string
	for name, answer := range nodes {
		names = append(names, name)
		if answer == nil {
			// Subscribed, silent: a replica that hangs.
			other.Subscribe(subjectNode+name, func(*nats.Msg) {})
			continue
		}
		other.Subscribe(subjectNode+name, func(m *nats.Msg) {
			var req clusterRequest
			json.Unmarshal(m.Data, &req)
			data, _ := json.Marshal(answer(req))
			m.Respond(data)
		})
	}
	data, _ := json.Marshal(announcement{Replica: "replica-b", Nodes: append(names, "node9")}) // node9: nobody answers for it
	if err := other.Publish(subjectReplicas, data); err != nil {
		t.Fatal(err)
	}
	other.Flush()
	deadline := time.Now().Add(5 * time.Second)
	for len(c.remoteNodes()) != len(names)+1 {
		if time.Now().After(deadline) {
			t.Fatalf("the announcement never arrived: %v", c.remoteNodes())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// statusOfErr is the REST API's status for err.
func statusOfErr(err error) int {
	if err == nil {
		return http.StatusOK
	}
	return statusOf(err)
}

// A transfer asked of a replica that does not hold the call goes to the
// replica whose node holds it; what it answers is passed on, and a call
// nobody holds, or held by a node that cannot answer, says which.
func TestClusterFindsTheCallsNode(t *testing.T) {
	holds := func(id string) func(clusterRequest) *clusterReply {
		return func(req clusterRequest) *clusterReply {
			switch {
			case req.Op == "calls":
				return &clusterReply{Status: 200, Calls: []transfer.CallInfo{{ID: id, Node: "node2"}}}
			case req.CallID != id:
				return &clusterReply{Status: 404, Error: "no such call"}
			case req.Command != nil && req.Command.Destination == "999":
				return &clusterReply{Status: 422, Error: `destination "999" refused`}
			}
			return &clusterReply{Status: 200, TransferID: id + "-t1"}
		}
	}
	c := clusterOf(t, map[string]func(clusterRequest) *clusterReply{"node2": holds("c2-1"), "node3": holds("c3-1")})
	ctx := context.Background()

	id, err := c.StartTransfer(ctx, "c3-1", transfer.TransferCommand{Kind: transfer.KindBlind, Destination: "103"})
	if err != nil || id != "c3-1-t1" {
		t.Errorf("transfer of node3's call: %q %v, want c3-1-t1", id, err)
	}
	_, err = c.StartTransfer(ctx, "c2-1", transfer.TransferCommand{Kind: transfer.KindBlind, Destination: "999"})
	if statusOfErr(err) != 422 || !strings.Contains(err.Error(), "999") {
		t.Errorf("refused transfer: %d %v, want node2's 422", statusOfErr(err), err)
	}
	// (node9 is announced but nobody answers: "no responders".)
	err = c.CompleteTransfer(ctx, "c7-1")
	if statusOfErr(err) != 503 || !strings.Contains(err.Error(), "node9") {
		t.Errorf("a call not found while node9 cannot answer: %d %v, want 503 naming node9", statusOfErr(err), err)
	}
	_, err = c.Calls(ctx)
	if statusOfErr(err) != 503 || !strings.Contains(err.Error(), "node node9: no replica serves it now") {
		t.Errorf("listing with node9 unserved: %d %v", statusOfErr(err), err)
	}
}

// A node whose replica hangs is named with the timeout to change; nodes
// that answer "no such call" everywhere make a plain 404.
func TestClusterSaysWhichNodeDidNotAnswer(t *testing.T) {
	c := clusterOf(t, map[string]func(clusterRequest) *clusterReply{"node2": nil})
	_, err := c.ask(context.Background(), "node2", clusterRequest{Op: "calls"})
	if statusOfErr(err) != 503 || !strings.Contains(err.Error(), "node node2: no replica answered within 300ms (cluster.request_timeout)") {
		t.Errorf("hanging replica: %d %v", statusOfErr(err), err)
	}

	c = clusterOf(t, map[string]func(clusterRequest) *clusterReply{
		"node2": func(clusterRequest) *clusterReply { return &clusterReply{Status: 404, Error: "no such call"} },
	})
	c.mu.Lock()
	c.replicas["replica-b"] = announcement{Replica: "replica-b", Nodes: []string{"node2"}, heard: time.Now()}
	c.mu.Unlock()
	err = c.CancelTransfer(context.Background(), "c1-1")
	if !errors.Is(err, transfer.ErrNoSuchCall) || statusOfErr(err) != 404 {
		t.Errorf("a call no node holds: %d %v, want 404", statusOfErr(err), err)
	}
}

// Given node1's Asterisk just reconnected here after its replica a was
// killed, when this replica lists the nodes to ask other replicas about
// before its next announcement round, then node1 is not among them (a's
// announcement still names it) until its connection here breaks.
func TestClusterAsksNobodyElseForANodeServedHere(t *testing.T) {
	moved := &node{name: "node1"}
	moved.running.Store(true)
	c := &cluster{replica: "b", local: &nodeSet{nodes: map[string]*node{"node1": moved}},
		replicas: map[string]announcement{"a": {Replica: "a", Nodes: []string{"node1", "node3"}, heard: time.Now()}},
		serving:  map[string]*nats.Subscription{}}
	if got := c.remoteNodes(); !slices.Equal(got, []string{"node3"}) {
		t.Errorf("remote nodes with node1 connected here: %q, want [node3]", got)
	}
	moved.streamDown.Store(true)
	if got := c.remoteNodes(); !slices.Equal(got, []string{"node1", "node3"}) {
		t.Errorf("remote nodes with node1's connection here broken: %q, want [node1 node3]", got)
	}
}
