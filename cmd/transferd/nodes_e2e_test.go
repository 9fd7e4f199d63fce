package main

import (
	"context"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap/zaptest"

	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/internal/sipphone"
)

// addNode starts another Asterisk (a sandbox of its own, phones exts)
// whose outbound websocket connects to the bed's transferd as node name
// (path /ari/<name>), and returns a bed for its phones that shares the
// bed's transferd. The bed must be in outbound mode.
func (b *bed) addNode(name string, exts ...string) *bed {
	b.t.Helper()
	return b.addNodeAt(b.cfg.ARI.Listen, b.ops, name, exts...)
}

// addNodeAt is addNode for a transferd listening at listen for Asterisk,
// whose operator endpoints are at ops.
func (b *bed) addNodeAt(listen, ops, name string, exts ...string) *bed {
	b.t.Helper()
	other := b.startNode(listen, ops, name, exts...)
	other.waitMetric(`transferd_node_connected{node="`+name+`"} 1`, 15*time.Second)
	return other
}

// startNode starts node name (a sandbox of its own, phones exts, the
// bed's ARI password) whose outbound websocket connects to listen, path
// /ari/<name>, and returns a bed for its phones whose operator endpoints
// are at ops; it does not wait for the connection (behind HAProxy, which
// replica takes it is HAProxy's choice).
func (b *bed) startNode(listen, ops, name string, exts ...string) *bed {
	b.t.Helper()
	t := b.t
	sb := sandbox.Start(t, sandbox.Options{PhoneContext: "transferd", Phones: exts,
		Outbound: "ws://" + listen + "/ari/" + name, ARIPassword: b.sb.ARIPassword})
	other := &bed{t: t, ctx: b.ctx, sb: sb, phones: map[string]*sipphone.Phone{}, ops: ops, cfg: b.cfg, stopDaemon: func() {}}
	t.Cleanup(func() {
		// (As newBed's: the application outlives the connection, so a
		// call still ending must be given its time.)
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sb.WaitEmpty(wctx, 5*time.Second)
	})
	for _, ext := range exts {
		p, err := sipphone.New(b.ctx, sipphone.Config{Ext: ext, Password: sb.PhonePassword(ext), Server: sb.SIPAddr, Logf: t.Logf})
		if err != nil {
			t.Fatalf("node %s, phone %s: %v", name, ext, err)
		}
		t.Cleanup(func() { p.Close() })
		if err := p.Register(b.ctx); err != nil {
			t.Fatalf("node %s, phone %s registers: %v", name, ext, err)
		}
		other.phones[ext] = p
	}
	return other
}

// waitMetric waits until /metrics shows line.
func (b *bed) waitMetric(line string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, body := b.get("/metrics")
		if strings.Contains(body, line) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("/metrics never showed %q:\n%s", line, grepLines(body, "transferd_node"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// One transferd serves two Asterisk nodes at once (outbound mode, each
// connecting to a path of its own), an engine for each: the same
// extensions on both nodes call and transfer independently, the API lists
// both nodes' calls by node and transfers one through the node that holds
// it, and the metrics count per node.
func TestOneTransferdServesTwoAsteriskNodes(t *testing.T) {
	one := newBed(t, inMode("ari-only", func(c *Config) { outbound(c); withAPI(c) }), "101", "102", "103")
	two := one.addNode("node2", "101", "102", "103")
	events := one.events()

	// 101 calls 102 on each node; each pair hears each other only.
	a1, c1 := one.call("101", "102")
	a2, c2 := two.call("101", "102")
	one.hears("101 on pbx", a1, "102")
	two.hears("101 on node2", a2, "102")
	two.hears("102 on node2", c2, "101")

	var calls []struct {
		ID, Node string
	}
	if code := one.rest("GET", "/v1/calls", "", &calls); code != 200 || len(calls) != 2 {
		t.Fatalf("GET /v1/calls: %d %+v, want a call on each node", code, calls)
	}
	nodeCall := map[string]string{}
	for _, c := range calls {
		nodeCall[c.Node] = c.ID
	}
	if nodeCall["pbx"] == "" || nodeCall["node2"] == "" {
		t.Fatalf("GET /v1/calls: %+v, want one call on pbx and one on node2", calls)
	}

	// A phone's blind transfer on node2: node2's engine performs it.
	tr := two.blindTransferOn(a2, c2, "103")
	in := two.toldThenRings(tr, c2, "103")
	if err := in.Answer(two.ctx); err != nil {
		t.Fatal(err)
	}
	two.talkThenHangUp("101", a2, "103", in)
	one.expectEvents(events, "started blind", "ringing blind", "answered blind", "ended blind completed")
	one.waitMetric(`transferd_transfers_total{kind="blind",node="node2",outcome="completed"} 1`, 5*time.Second)

	// The API's blind transfer of pbx's call reaches pbx's engine.
	in1 := one.apiBlindTransfer(one, nodeCall["pbx"], c1, "103")
	one.talkThenHangUp("101", a1, "103", in1)
	one.expectEvents(events, "started blind", "ringing blind", "answered blind", "ended blind completed")
	one.waitMetric(`transferd_transfers_total{kind="blind",node="pbx",outcome="completed"} 1`, 5*time.Second)
	one.waitMetric("transferd_active_calls 0", 10*time.Second)
}

// crossNodeRoutes: node1 hosts the 1XX extensions, node2 the 2XX; each
// node reaches the other over a SIP trunk named after it. Both nodes'
// engines get the same table.
func crossNodeRoutes(c *Config) {
	outbound(c)
	c.ARI.Node = "node1"
	c.Routes = append(c.Routes,
		RouteConfig{`^1[0-9][0-9]$`, "node1", "PJSIP/{exten}@node1"},
		RouteConfig{`^2[0-9][0-9]$`, "node2", "PJSIP/{exten}@node2"})
}

// twoNodes starts node1 (phones 101-102) and node2 (201-202) joined by a
// trunk, served by one transferd with crossNodeRoutes and its REST API;
// the returned bed dials and hears every phone of both nodes.
func twoNodes(t *testing.T) (cluster, two *bed) {
	one := newBed(t, inMode("ari-only", func(c *Config) { crossNodeRoutes(c); withAPI(c) }), "101", "102")
	two = one.addNode("node2", "201", "202")
	if err := one.sb.AddTrunk(one.ctx, "node2", two.sb.SIPAddr); err != nil {
		t.Fatal(err)
	}
	if err := two.sb.AddTrunk(one.ctx, "node1", one.sb.SIPAddr); err != nil {
		t.Fatal(err)
	}
	for ext, p := range two.phones {
		one.phones[ext] = p
	}
	return one, two
}

// A phone on node1 blind-transfers its caller to an extension on node2,
// with the same keys as within a node: the caller talks to the target
// across the trunk and each sees the other on its display.
func TestBlindTransferToAnotherNode(t *testing.T) {
	b, _ := twoNodes(t)
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	tr := b.blindTransferOn(a, c, "201")
	in := b.toldThenRings(tr, c, "201")
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.hears("101", a, "201")
	b.hears("201", in, "101")
	b.displays("101", a, "201")
	b.displays("201", in, "101")
	a.Hangup(b.ctx)
	if err := in.WaitEnded(b.ctx); err != nil {
		t.Fatalf("201's call does not end after 101 hung up: %v", err)
	}
}

// A phone on node1 consults a colleague on node2 (Tran, number, Send) and
// either hands the caller over (Tran again) or takes the caller back
// (Resume after the colleague hangs up).
func TestAttendedTransferToAnotherNode(t *testing.T) {
	t.Run("completed", func(t *testing.T) {
		b, _ := twoNodes(t)
		b.completeAttended("201")
	})
	t.Run("resumed", func(t *testing.T) {
		b, _ := twoNodes(t)
		a, first, second, colleague := b.consultWith("201", true)
		colleague.incoming.Hangup(b.ctx) // the colleague declines
		if err := second.WaitEnded(b.ctx); err != nil {
			t.Fatalf("102's consultation call does not end when 201 hangs up: %v", err)
		}
		b.hearsMusic("101 (still held)", a)
		if err := first.Unhold(b.ctx); err != nil {
			t.Fatal(err)
		}
		b.talkThenHangUp("101", a, "102", first)
	})
}

// startNATS runs a NATS server (the real one, embedded) for a test and
// returns its client URL.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// apiCall is a call as GET /v1/calls lists it.
type apiCall struct{ ID, Node string }

// callOf waits until the API lists a call of node (another replica's node
// is listed once its announcement is heard: within a second) and returns
// its id and every call listed.
func (b *bed) callOf(node string) (id string, calls []apiCall) {
	b.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls = nil
		if code := b.rest("GET", "/v1/calls", "", &calls); code != 200 {
			b.t.Fatalf("GET /v1/calls at %s: %d %+v", b.ops, code, calls)
		}
		for _, c := range calls {
			if c.Node == node {
				return c.ID, calls
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("GET /v1/calls at %s never listed a call of %s: %+v", b.ops, node, calls)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Two replicas, each serving one Asterisk node, joined over NATS: the API
// of either lists both nodes' calls, a transfer asked of the replica that
// does not serve the call's node is carried out by the one that does, and
// either's event stream shows every node's transfers. Once the other
// replica is gone, its node is reported as unserved (503), not as empty.
func TestClusterAPIReachesEveryNode(t *testing.T) {
	natsURL := startNATS(t)
	inCluster := func(c *Config) {
		outbound(c)
		withAPI(c)
		c.ARI.Node = "node1"
		c.Cluster.NATSURL, c.Cluster.Replica = natsURL, "replica-a"
	}
	a := newBed(t, inMode("ari-only", inCluster), "101", "102", "103")
	// Replica B: the same configuration, its own listeners.
	cfgB := a.cfg
	cfgB.ARI.Listen, cfgB.HTTP.Listen, cfgB.Cluster.Replica = freeAddr(t), freeAddr(t), "replica-b"
	ctxB, stopB := context.WithCancel(context.Background())
	doneB := make(chan error, 1)
	go func() { doneB <- serve(ctxB, &cfgB, zaptest.NewLogger(t).Named("replica-b")) }()
	stoppedB := false
	stopReplicaB := func() {
		if !stoppedB {
			stoppedB = true
			stopB()
			if err := <-doneB; err != nil {
				t.Errorf("replica B: %v", err)
			}
		}
	}
	t.Cleanup(stopReplicaB)
	b := a.addNodeAt(cfgB.ARI.Listen, "http://"+cfgB.HTTP.Listen, "node2", "201", "202", "203")
	events := a.eventsWithNode()

	a1, _ := a.call("101", "102")
	b1, b2 := b.call("201", "202")
	a.hears("101", a1, "102")
	b.hears("201", b1, "202")

	node2Call, calls := a.callOf("node2")
	if len(calls) != 2 {
		t.Fatalf("GET /v1/calls on replica A: %+v, want node1's and node2's calls", calls)
	}

	// Replica A is asked to transfer node2's call: replica B does it.
	in := a.apiBlindTransfer(b, node2Call, b2, "203")
	b.talkThenHangUp("201", b1, "203", in)
	a.expectEvents(events, "node2 started blind", "node2 ringing blind", "node2 answered blind", "node2 ended blind completed")

	// Replica B gone: node2 has no replica (its Asterisk waits to
	// reconnect), and replica A says so until B's announcement expires.
	stopReplicaB()
	var failure struct{ Error string }
	code := a.rest("GET", "/v1/calls", "", &failure)
	t.Logf("GET /v1/calls with node2 unserved: %d %q", code, failure.Error)
	if code == 503 && !strings.Contains(failure.Error, "node2") {
		t.Errorf("GET /v1/calls with node2 unserved: 503 %q, want node2 named", failure.Error)
	} else if code != 503 && code != 200 {
		t.Errorf("GET /v1/calls with node2 unserved: %d %q", code, failure.Error)
	}
	a1.Hangup(a.ctx)
}

// apiBlindTransfer asks b's API for a blind transfer of the call callID
// (its caller, to dest), checks that the transferer's phone is released,
// and answers dest's phone, a phone of on (the bed of the call's node).
func (b *bed) apiBlindTransfer(on *bed, callID string, transferer *sipphone.Call, dest string) *sipphone.Call {
	b.t.Helper()
	var started struct {
		TransferID string `json:"transfer_id"`
	}
	if code := b.rest("POST", "/v1/calls/"+callID+"/transfers", `{"kind":"blind","destination":"`+dest+`"}`, &started); code != 202 || started.TransferID == "" {
		b.t.Fatalf("POST /v1/calls/%s/transfers: %d %+v", callID, code, started)
	}
	if err := transferer.WaitEnded(b.ctx); err != nil {
		b.t.Fatalf("the transferer is not released: %v", err)
	}
	in := on.rings(dest)
	if err := in.Answer(b.ctx); err != nil {
		b.t.Fatal(err)
	}
	return in
}

// A phone on node1 sends its caller to the voicemail of an extension on
// node2 with the same keys as within a node: node1 has no such mailbox,
// so transferd dials node2's voicemail over the trunk (*8201, which
// node2's trunk context answers with VoiceMail); the caller hears the
// greeting and its message lands in node2's mailbox 201.
func TestVoicemailTransferToAnotherNode(t *testing.T) {
	t.Run("*8 and the number keyed during the call, then hanging up", func(t *testing.T) {
		b, two := twoNodes(t)
		a, c := b.keysDuringCall("*8201")
		c.Hangup(b.ctx)
		two.leavesMessage(a, "201", 4*time.Second)
		if msgs := b.voicemailMessages("102"); len(msgs) != 0 {
			t.Errorf("102 (the fallback) has %d messages, want none", len(msgs))
		}
	})
	t.Run("*8299 keyed, no such mailbox on node2: 102 is rung back", func(t *testing.T) {
		b, _ := twoNodes(t)
		a, c := b.keysDuringCall("*8299")
		c.Hangup(b.ctx)
		back := b.rings("102")
		if err := back.Answer(b.ctx); err != nil {
			t.Fatal(err)
		}
		b.talkThenHangUp("101", a, "102", back)
	})
	t.Run("REFER to *8201", func(t *testing.T) {
		b, two := twoNodes(t)
		a, c, tr := b.blindTransfer("*8201")
		b.toldThenHangsUp(tr, c)
		two.leavesMessage(a, "201", 4*time.Second)
	})
	t.Run("REFER to *8299, no such mailbox on node2: the transferer is rung back", func(t *testing.T) {
		b, _ := twoNodes(t)
		a, c, tr := b.blindTransfer("*8299")
		b.rungBack(a, c, tr)
	})
	t.Run("REST API: voicemail of 201", func(t *testing.T) {
		b, two := twoNodes(t)
		a, c := b.call("101", "102")
		if code := b.rest("POST", "/v1/calls/"+b.callID()+"/transfers", `{"kind":"voicemail","destination":"201"}`, nil); code != 202 {
			t.Fatalf("voicemail of 201: %d, want 202", code)
		}
		if err := c.WaitEnded(b.ctx); err != nil {
			t.Fatalf("102 is not released: %v", err)
		}
		two.leavesMessage(a, "201", 3*time.Second)
	})
	// Another node's mailboxes cannot be looked up from here (the same
	// node's are: 422), so the request is taken and ends as *8299 keyed
	// by 102 would: 102 is rung back.
	t.Run("REST API: voicemail of 299, no such mailbox on node2: 102 is rung back", func(t *testing.T) {
		b, _ := twoNodes(t)
		a, c := b.call("101", "102")
		if code := b.rest("POST", "/v1/calls/"+b.callID()+"/transfers", `{"kind":"voicemail","destination":"299"}`, nil); code != 202 {
			t.Fatalf("voicemail of 299 on node2: %d, want 202", code)
		}
		if err := c.WaitEnded(b.ctx); err != nil {
			t.Fatalf("102 is not released: %v", err)
		}
		back := b.rings("102")
		if err := back.Answer(b.ctx); err != nil {
			t.Fatal(err)
		}
		b.talkThenHangUp("101", a, "102", back)
	})
}

// 101 on node1 calls 201 on node2, who does not answer: the caller is
// answered by 201's voicemail on node2, where its mailbox is (node2
// decides: node1 lets a remote extension ring longer than node2 does),
// and leaves a message there.
func TestUnansweredCallToAnotherNodeLeavesAMessageThere(t *testing.T) {
	b, two := twoNodes(t)
	result := b.dial("101", "201")
	in := b.rings("201")
	a := <-result
	if a.err != nil {
		t.Fatalf("101 is not answered by 201's voicemail: %v", a.err)
	}
	if err := in.WaitEnded(b.ctx); err != nil {
		t.Fatalf("201 keeps ringing after the timeout: %v", err)
	}
	two.leavesMessage(a.call, "201", 3*time.Second)
}

// Issue 24's deployment: two Asterisk nodes connect through HAProxy
// (balance leastconn) to two transferd replicas, real processes joined
// over NATS. The nodes spread over the replicas; a REST transfer asked of
// the replica that does not serve the call's node is carried out; SIGKILL
// of the replica serving node1 moves node1 to the other replica, which
// adopts its call: it keeps talking, the survivor's API lists it, and a
// phone's blind transfer on it works.
func TestClusterOfReplicasBehindHAProxyServesTwoNodes(t *testing.T) {
	natsURL := startNATS(t)
	// node1 connects to /ari (ari.node), node2 to /ari/node2, both to
	// HAProxy at the bed's ari.listen.
	one := newBed(t, inMode("ari-only", func(c *Config) { outbound(c); c.ARI.Node = "node1" }), "101", "102", "103")
	one.stopDaemon()
	inCluster := func(name string) []string {
		return []string{"TRANSFERD_ARI_NODE=node1", "TRANSFERD_API_TOKEN=" + testToken,
			"TRANSFERD_CLUSTER_NATS_URL=" + natsURL, "TRANSFERD_CLUSTER_REPLICA=" + name}
	}
	replicas := []*replica{one.startReplica("a", inCluster("a")...), one.startReplica("b", inCluster("b")...)}
	one.startHAProxy(one.cfg.ARI.Listen, "leastconn", replicas...)
	node1At := one.servingReplica(replicas, "node1")
	two := one.startNode(one.cfg.ARI.Listen, "", "node2", "201", "202", "203")
	node2At := one.servingReplica(replicas, "node2")
	if node1At == node2At {
		t.Fatalf("both nodes on replica %s: HAProxy's leastconn should send node2 to the replica without a connection", node1At.name)
	}
	t.Logf("node1 on replica %s, node2 on replica %s", node1At.name, node2At.name)
	api := func(r *replica) *bed { return &bed{t: t, ctx: one.ctx, ops: "http://" + r.ops} }
	other := func(r *replica) *replica {
		if r == replicas[0] {
			return replicas[1]
		}
		return replicas[0]
	}

	a1, c1 := one.call("101", "102")
	a2, c2 := two.call("201", "202")
	one.hears("101", a1, "102")
	two.hears("201", a2, "202")

	// The replica that does not serve node2 is asked to transfer node2's
	// call: node2's replica does it.
	node2Call, calls := api(other(node2At)).callOf("node2")
	if len(calls) != 2 {
		t.Fatalf("GET /v1/calls on replica %s: %+v, want node1's and node2's calls", other(node2At).name, calls)
	}
	in := api(other(node2At)).apiBlindTransfer(two, node2Call, c2, "203")
	two.talkThenHangUp("201", a2, "203", in)

	// node1's replica dies: node1's Asterisk reconnects through HAProxy to
	// the other, which adopts the call.
	survivor := other(node1At)
	one.waitMetricAt(survivor, "transferd_active_calls", 0, 5*time.Second)
	one.failOver(node1At, survivor, 1)
	one.waitMetricAt(survivor, `transferd_node_connected{node="node1"}`, 1, 5*time.Second)
	one.hears("101 (after the kill)", a1, "102")
	one.hears("102 (after the kill)", c1, "101")
	if _, calls := api(survivor).callOf("node1"); len(calls) != 1 {
		t.Fatalf("GET /v1/calls on replica %s after the kill: %+v, want node1's call", survivor.name, calls)
	}
	tr := one.blindTransferOn(a1, c1, "103")
	in = one.toldThenRings(tr, c1, "103")
	if err := in.Answer(one.ctx); err != nil {
		t.Fatal(err)
	}
	one.talkThenHangUp("101", a1, "103", in)
}

// servingReplica waits until one of replicas serves node (its
// transferd_node_connected is 1) and returns it.
func (b *bed) servingReplica(replicas []*replica, node string) *replica {
	b.t.Helper()
	metric := `transferd_node_connected{node="` + node + `"}`
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, r := range replicas {
			if b.metricAt(r.ops, metric) == 1 {
				return r
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no replica serves %s after 15s", node)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
