package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/internal/sipphone"
)

// TestComposeNodesStack runs against the stack docker-compose.nodes.yml
// starts (CI does: go run ./internal/compose -nodes && docker-compose -p
// transferd-nodes -f docker-compose.nodes.yml up -d), when
// TRANSFERD_COMPOSE_NODES=1. 101 on node1 calls 102, who blind-transfers
// it (REFER) to 201 on node2: 201 rings over the trunk, and 101 and 201
// hear each other, each displaying the other; both replicas' REST API
// lists the call, whichever of them serves node1 (the other asks it over
// NATS).
func TestComposeNodesStack(t *testing.T) {
	if os.Getenv("TRANSFERD_COMPOSE_NODES") != "1" {
		t.Skip("TRANSFERD_COMPOSE_NODES=1 runs this against a running docker-compose.nodes.yml stack")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The stack's fixed addresses (docker-compose.nodes.yml,
	// internal/compose/nodes.go).
	const token = "transferd-demo-token"
	node1 := &sandbox.Sandbox{ARIURL: "http://127.0.0.1:8090", ARIUser: "transferd", ARIPassword: "transferd-demo", SIPAddr: "127.0.0.1:5080"}
	node2 := &sandbox.Sandbox{ARIURL: "http://127.0.0.1:8091", ARIUser: "transferd", ARIPassword: "transferd-demo", SIPAddr: "127.0.0.1:5081"}
	replicas := []struct{ name, ops string }{{"a", "127.0.0.1:9581"}, {"b", "127.0.0.1:9582"}}
	b := &bed{t: t, ctx: ctx, sb: node1, phones: map[string]*sipphone.Phone{}}

	// Each node is served by a replica (HAProxy's leastconn spreads them).
	serving := map[string]string{}
	for _, node := range []string{"node1", "node2"} {
		for serving[node] == "" {
			for _, r := range replicas {
				if b.metricAt(r.ops, `transferd_node_connected{node="`+node+`"}`) == 1 {
					serving[node] = r.name
				}
			}
			if serving[node] == "" {
				if ctx.Err() != nil {
					t.Fatalf("no replica serves %s (transferd_node_connected on neither /metrics)", node)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	t.Logf("node1 on replica %s, node2 on replica %s", serving["node1"], serving["node2"])

	for ext, sb := range map[string]*sandbox.Sandbox{"101": node1, "102": node1, "201": node2} {
		p, err := sipphone.New(ctx, sipphone.Config{Ext: ext, Password: sandbox.PhonePassword(ext), Server: sb.SIPAddr, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Register(ctx); err != nil {
			t.Fatalf("phone %s registers with the compose Asterisk at %s: %v", ext, sb.SIPAddr, err)
		}
		b.phones[ext] = p
	}

	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.hears("102", c, "101")
	// Both replicas list node1's call: one serves node1, the other asks
	// it (a node served elsewhere is listed once its announcement is
	// heard, within a second).
	for _, r := range replicas {
		deadline := time.Now().Add(5 * time.Second)
		for {
			code, calls := composeCalls(ctx, t, r.ops, token)
			if code == http.StatusOK && len(calls) == 1 && calls[0].Node == "node1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET /v1/calls on replica %s: %d %+v, want node1's call", r.name, code, calls)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// 102 blind-transfers 101 to 201, on node2: node1 dials it over the
	// trunk named node2 (the routes).
	tr := b.blindTransferOn(a, c, "201")
	in := b.toldThenRings(tr, c, "201")
	if err := in.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	b.hears("101", a, "201")
	b.hears("201", in, "101")
	b.displays("101", a, "201")
	b.displays("201", in, "101")
	a.Hangup(ctx)
	if err := in.WaitEnded(ctx); err != nil {
		t.Fatalf("201's call does not end after 101 hung up: %v", err)
	}
	for _, sb := range []*sandbox.Sandbox{node1, node2} {
		if left, err := sb.WaitEmpty(ctx, 5*time.Second); err != nil || left != "" {
			t.Errorf("left in the compose Asterisk at %s: %s %v", sb.ARIURL, left, err)
		}
	}
}

// composeCalls is GET /v1/calls on the replica whose API is at ops.
func composeCalls(ctx context.Context, t *testing.T, ops, token string) (int, []apiCall) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ops+"/v1/calls", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET http://%s/v1/calls: %v", ops, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var calls []apiCall
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &calls); err != nil {
			t.Fatalf("GET http://%s/v1/calls: %s: %v", ops, data, err)
		}
	}
	return resp.StatusCode, calls
}
