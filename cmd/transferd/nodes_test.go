package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/transferd/transferd/ari"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// An Asterisk's outbound websocket names its node by its path; a name the
// configuration does not admit, or wrong credentials, are refused before
// any node starts, and say what to fix: once for each node and reason
// (Asterisk retries every 200 ms), again after its connection was taken.
func TestAsteriskConnectionsNameTheirNode(t *testing.T) {
	cfg := exampleConfig(t)
	cfg.ARI.App, cfg.ARI.Mode, cfg.ARI.Listen, cfg.ARI.Username, cfg.ARI.Password = "transferd", "outbound", "127.0.0.1:0", "transferd", "s3cret"
	cfg.ARI.REST, cfg.ARI.Nodes = "", []string{"node1", "node2"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	observed, logs := observer.New(zapcore.InfoLevel)
	log := zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, observed) })))
	o := newOps(log)
	nodes := newNodeSet(ctx, cfg, log, o, newBroadcaster(log))
	defer nodes.stop()
	mux := http.NewServeMux()
	mux.HandleFunc("/ari", nodes.serveAsterisk)
	mux.HandleFunc("/ari/{node}", nodes.serveAsterisk)

	connect := func(path, password string) int {
		req := httptest.NewRequest("GET", path, nil)
		req.SetBasicAuth("transferd", password)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w.Code
	}
	for _, tt := range []struct {
		path, password string
		want           int
	}{
		{"/ari/node9", "s3cret", http.StatusNotFound},    // not in ari.nodes
		{"/ari/node.1", "s3cret", http.StatusNotFound},   // not a node name
		{"/ari/node1", "wrong", http.StatusUnauthorized}, // wrong password
	} {
		for range 3 {
			if got := connect(tt.path, tt.password); got != tt.want {
				t.Errorf("%s with password %q: %d, want %d", tt.path, tt.password, got, tt.want)
			}
		}
	}
	if n := len(nodes.all()); n != 0 {
		t.Fatalf("refused connections started %d nodes", n)
	}
	refusalsTold := func() []string {
		var told []string
		for _, e := range logs.TakeAll() {
			if strings.HasPrefix(e.Message, "refused an Asterisk's outbound websocket") {
				told = append(told, e.ContextMap()["node"].(string)+": "+e.Message)
			}
		}
		return told
	}
	if told := refusalsTold(); len(told) != 3 {
		t.Errorf("3 refusals, each 3 times: told %q, want each once", told)
	}
	// Admitted (not a websocket upgrade here, so the handshake itself
	// fails): node1 and, at /ari, the node of ari.node.
	connect("/ari/node1", "s3cret")
	connect("/ari", "s3cret")
	var names []string
	for _, n := range nodes.all() {
		names = append(names, n.name)
	}
	if len(names) != 2 || names[0] != "node1" || names[1] != "pbx" {
		t.Fatalf("nodes started: %v, want [node1 pbx]", names)
	}
	connect("/ari/node1", "wrong")
	if told := refusalsTold(); len(told) != 1 || !strings.Contains(told[0], "credentials") {
		t.Errorf("node1's wrong password after its connection was taken: told %q, want it once", told)
	}
}

// exampleConfig is transferd.example.yaml's configuration.
func exampleConfig(t *testing.T) *Config {
	t.Helper()
	fs := pflag.NewFlagSet("transferd", pflag.ContinueOnError)
	addConfigFlags(fs)
	if err := fs.Parse([]string{"--config", "transferd.example.yaml"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRANSFERD_ARI_USERNAME", "transferd")
	t.Setenv("TRANSFERD_ARI_PASSWORD", "s3cret")
	cfg, err := loadConfig(fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A node whose Asterisk stays away (outbound mode: it reconnected to
// another replica, or is down) is retired after staleAfter: its engine
// stops, it is no longer listed or counted, and its next connection
// starts a new one. A node whose Asterisk is back in time is kept.
func TestANodeAwayTooLongIsRetired(t *testing.T) {
	cfg := exampleConfig(t)
	cfg.ARI.App, cfg.ARI.Mode, cfg.ARI.Listen, cfg.ARI.Username, cfg.ARI.Password = "transferd", "outbound", "127.0.0.1:0", "transferd", "s3cret"
	cfg.ARI.REST = ""
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := zaptest.NewLogger(t)
	o := newOps(log)
	nodes := newNodeSet(ctx, cfg, log, o, newBroadcaster(log))
	defer nodes.stop()
	nodes.staleAfter = 300 * time.Millisecond
	away, back := mustStart(t, nodes, "node1"), mustStart(t, nodes, "node2")
	o.observe(away, &ari.Disconnected{})
	o.observe(back, &ari.Disconnected{})
	go nodes.retireStaleNodes(ctx, 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	o.observe(back, &ari.Reconnected{})

	select {
	case <-away.done:
	case <-time.After(5 * time.Second):
		t.Fatal("node1, away, is not retired")
	}
	time.Sleep(500 * time.Millisecond)
	if all := nodes.all(); len(all) != 1 || all[0] != back {
		t.Fatalf("nodes after node1 was retired: %d, want node2 only", len(all))
	}
	if again := mustStart(t, nodes, "node1"); again == away {
		t.Error("node1's next connection got the retired node")
	}
}

func mustStart(t *testing.T, nodes *nodeSet, name string) *node {
	t.Helper()
	n, err := nodes.start(name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
