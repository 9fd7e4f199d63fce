package main

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/internal/sipphone"
)

// TestRunCommandSandboxNodesCallAcrossTheTrunk runs the README's
// `--sandbox --nodes 2` and does what its output tells a newcomer: once
// both nodes are connected, a phone registered on node1 as 101 calls 201,
// registered on node2; the call crosses the trunk and the two hear each
// other.
func TestRunCommandSandboxNodesCallAcrossTheTrunk(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping tests that run a real Asterisk")
	}
	// Not t.Parallel: t.Setenv. An operator address of its own keeps it
	// clear of a transferd running on this machine.
	ops := freeAddr(t)
	t.Setenv("TRANSFERD_HTTP_LISTEN", ops)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, stop := runInBackground(ctx, "--sandbox", "--nodes", "2", "--log-level", "warn")
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("run --sandbox --nodes 2: %v", err)
		}
		if t.Failed() {
			t.Logf("output:\n%s", out.String())
		}
	}()

	// What the output says, read as a newcomer would.
	server := map[string]string{
		"101": out.await(ctx, t, `node1: server (\S+) \(UDP\), user 101, 102 or 103`)[1],
		"201": out.await(ctx, t, `node2: server (\S+) \(UDP\), user 201, 202 or 203`)[1],
	}
	out.await(ctx, t, regexp.QuoteMeta("curl -s http://"+ops+"/metrics"))
	b := &bed{t: t, ctx: ctx, phones: map[string]*sipphone.Phone{}, ops: "http://" + ops}
	b.waitReadyAt(ops) // (the output comes before transferd listens)
	b.waitMetric(`transferd_node_connected{node="node1"} 1`, time.Minute)
	b.waitMetric(`transferd_node_connected{node="node2"} 1`, time.Minute)
	for ext, addr := range server {
		p := registerPhone(ctx, t, ext, addr)
		defer p.Close() // (before the nodes stop: it unregisters)
		b.phones[ext] = p
	}

	a, c := b.call("101", "201")
	b.hears("101", a, "201")
	b.hears("201", c, "101")
	// transferd handled the call on both nodes: node1 dialled 201 over
	// its trunk to node2, whose engine took the trunk's call to 201.
	b.waitMetric(`transferd_node_active_calls{node="node1"} 1`, 5*time.Second)
	b.waitMetric(`transferd_node_active_calls{node="node2"} 1`, 5*time.Second)
	a.Hangup(ctx)
	if err := c.WaitEnded(ctx); err != nil {
		t.Fatalf("201's call does not end after 101 hung up: %v", err)
	}
	b.waitMetric("transferd_active_calls 0", 10*time.Second)
}

// registerPhone registers a test phone as ext (the sandbox's password) with
// the Asterisk at server. The caller closes it.
func registerPhone(ctx context.Context, t *testing.T, ext, server string) *sipphone.Phone {
	t.Helper()
	p, err := sipphone.New(ctx, sipphone.Config{Ext: ext, Password: sandbox.PhonePassword(ext), Server: server, Logf: t.Logf})
	if err != nil {
		t.Fatalf("phone %s: %v", ext, err)
	}
	if err := p.Register(ctx); err != nil {
		p.Close()
		t.Fatalf("phone %s registers with %s: %v", ext, server, err)
	}
	return p
}

// --nodes is the sandbox's: without --sandbox, with --replicas or --demo,
// or with a count out of range, run says why before starting anything.
func TestSandboxNodesFlagRefusesWhatItCannotRun(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "2"}, `--nodes needs --sandbox`},
		{[]string{"--nodes", "2"}, `"Scale out: many Asterisk nodes"`},
		{[]string{"--sandbox", "--nodes", "2", "--replicas", "2"}, "--nodes with --replicas: not yet"},
		{[]string{"--sandbox", "--nodes", "2", "--demo"}, "--nodes with --demo: not yet"},
		{[]string{"--sandbox", "--nodes", "1"}, "--nodes 1: want 2 to 5"},
		{[]string{"--sandbox", "--nodes", "6"}, "--nodes 6: want 2 to 5"},
	} {
		var out strings.Builder
		err := run(context.Background(), tt.args, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run %q: %v, want an error saying %q", tt.args, err, tt.want)
		}
	}
}

// The sandbox nodes' configuration is the README's: outbound mode, node1
// on plain /ari, and a route per node through the trunk named like it.
func TestSandboxNodesConfigRoutesEachNodesExtensions(t *testing.T) {
	c := &sandboxNodes{listen: "127.0.0.1:18099", routes: sandboxRoutes(2), nodes: []*sandbox.Sandbox{
		{ARIURL: "http://127.0.0.1:18088", ARIUser: "transferd", ARIPassword: "shared", SIPAddr: "127.0.0.1:15060"},
		{ARIURL: "http://127.0.0.1:18089", ARIUser: "transferd", ARIPassword: "shared", SIPAddr: "127.0.0.1:15061"},
	}}
	fs := pflag.NewFlagSet("transferd", pflag.ContinueOnError)
	addConfigFlags(fs)
	cfg, err := loadConfig(fs, c.overrides())
	if err != nil {
		t.Fatal(err)
	}
	want := []RouteConfig{
		{`^1[0-9]{2}$`, "node1", "PJSIP/{exten}@node1"},
		{`^2[0-9]{2}$`, "node2", "PJSIP/{exten}@node2"},
	}
	if cfg.ARI.Mode != "outbound" || cfg.ARI.Listen != c.listen || cfg.ARI.Node != "node1" || !slices.Equal(cfg.Routes, want) {
		t.Fatalf("config: mode %q, listen %q, node %q, routes %+v; want outbound on %s, node1, routes %+v",
			cfg.ARI.Mode, cfg.ARI.Listen, cfg.ARI.Node, cfg.Routes, c.listen, want)
	}
	if got := nodePhones(2); !slices.Equal(got, []string{"201", "202", "203"}) {
		t.Errorf("node2's phones: %v, want 201-203", got)
	}

	var out strings.Builder
	c.announce(&out, "127.0.0.1:9570")
	for _, want := range []string{
		"ws://127.0.0.1:18099/ari/node<i>",
		"node1: server 127.0.0.1:15060 (UDP), user 101, 102 or 103, password pw-<user>",
		"node2: server 127.0.0.1:15061 (UDP), user 201, 202 or 203, password pw-<user>",
		"on node2, which the other nodes dial as PJSIP/{exten}@node2",
		"blind-transfer (Tran, 201, Tran) to 201 on node2",
		"curl -s http://127.0.0.1:9570/metrics",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("announcement lacks %q:\n%s", want, out.String())
		}
	}
}
