package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/transferd/transferd/internal/haproxy"
	"github.com/transferd/transferd/internal/sandbox"
)

// replicaNames names a pool's replicas, in HAProxy's order (balance
// first: Asterisk's connection goes to the first ready one).
const replicaNames = "abcdefghijklmnopqrstuvwxyz"

// replicaReadyTimeout bounds a replica's start, from exec to /readyz 200
// (about 100 ms on an idle machine).
const replicaReadyTimeout = 30 * time.Second

// runReplicated is --sandbox --replicas n: the sandbox's Asterisk in
// outbound mode connects through HAProxy to n transferd replicas, child
// processes of this one (the README's "High availability" set-up on one
// machine). It runs until ctx ends, or with --demo until the demo ends.
func runReplicated(ctx context.Context, fs *pflag.FlagSet, n int, withDemo bool, stdout io.Writer) error {
	if n < 2 || n > len(replicaNames) {
		return fmt.Errorf("--replicas %d: want 2 to %d (one replica needs no HAProxy: run --sandbox alone)", n, len(replicaNames))
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--replicas: find this program to start its replicas: %w", err)
	}
	logf := func(f string, a ...any) { fmt.Fprintf(stdout, f+"\n", a...) }
	front, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	replicas := make([]poolReplica, n)
	for i := range replicas {
		replicas[i].name = replicaNames[i : i+1]
		if replicas[i].listen, err = freeLoopbackAddr(); err != nil {
			return err
		}
		if replicas[i].ops, err = freeLoopbackAddr(); err != nil {
			return err
		}
	}

	sb, err := sandbox.New(ctx, sandbox.Options{
		PhoneContext: "transferd",
		Phones:       demoPhones,
		Outbound:     "ws://" + front + "/ari",
		Logf:         logf,
	})
	if err != nil {
		return err
	}
	defer sb.Stop(context.Background())
	announceSandbox(stdout, sb)
	// The parent's configuration (file, log flags) is the replicas' too;
	// the sandbox decides how they meet Asterisk.
	overrides := map[string]any{"ari.mode": "outbound", "ari.listen": replicas[0].listen,
		"ari.url": sb.ARIURL, "ari.username": sb.ARIUser, "ari.password": sb.ARIPassword}
	cfg, err := loadConfig(fs, overrides)
	if err != nil {
		return err
	}

	p := &pool{
		exe:      exe,
		args:     replicaArgs(fs, cfg),
		env:      append(os.Environ(), "TRANSFERD_ARI_USERNAME="+sb.ARIUser, "TRANSFERD_ARI_PASSWORD="+sb.ARIPassword),
		replicas: replicas,
		out:      stdout,
		logs:     os.Stderr,
		http:     &http.Client{},
		kills:    make(chan chan takeover),
	}
	poolCtx, stopPool := context.WithCancel(ctx)
	started := make(chan poolStarted, 1)
	poolDone := make(chan struct{})
	go func() {
		defer close(poolDone)
		p.run(poolCtx, started)
	}()
	// The pool's replicas are stopped (SIGTERM) before the sandbox.
	defer func() { stopPool(); <-poolDone }()

	dir, err := os.MkdirTemp("", "transferd-replicas-")
	if err != nil {
		return fmt.Errorf("--replicas: a directory for HAProxy's configuration: %w", err)
	}
	defer os.RemoveAll(dir)
	hopts := haproxy.Options{Front: front, Dir: dir, Logf: logf}
	for _, r := range replicas {
		hopts.Replicas = append(hopts.Replicas, haproxy.Replica{Name: r.name, Listen: r.listen, Ops: r.ops})
	}
	// HAProxy once the replicas are ready: its first health checks find
	// them up, and Asterisk's first attempts through it succeed.
	if err := waitReplicasReady(ctx, p); err != nil {
		return err
	}
	proxy, err := haproxy.Start(ctx, hopts)
	if err != nil {
		return err
	}
	defer proxy.Stop()

	var first poolStarted
	select {
	case first = <-started:
	case <-ctx.Done():
		return nil
	case <-time.After(time.Minute):
		return fmt.Errorf("--replicas: Asterisk did not connect through HAProxy (%s) to a replica within a minute; haproxy's log:\n%s", front, proxy.Stop())
	}
	announceReplicas(stdout, front, replicas, first)
	if !withDemo {
		<-ctx.Done()
		return nil
	}
	return runDemo(ctx, sb, cfg.ARI.App, stdout, demoScene{
		title: "the replica serving Asterisk is killed mid-call (kill -9)",
		run:   func(d *demo) error { return d.replicaKilled(p.killServing) },
	})
}

// replicaArgs passes the flags that set this process's configuration on
// to its replicas, and a log format they cannot guess: their stderr is a
// pipe to this process, not the terminal "auto" looks for.
func replicaArgs(fs *pflag.FlagSet, cfg *Config) []string {
	var args []string
	fs.Visit(func(f *pflag.Flag) {
		if f.Name == "config" || f.Name == "log-level" {
			args = append(args, "--"+f.Name+"="+f.Value.String())
		}
	})
	format := cfg.Log.Format
	if format == "auto" {
		format = "json"
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "console"
		}
	}
	return append(args, "--log-format="+format)
}

// waitReplicasReady waits until every replica answers /readyz with 200.
func waitReplicasReady(ctx context.Context, p *pool) error {
	ctx, cancel := context.WithTimeout(ctx, replicaReadyTimeout)
	defer cancel()
	for _, r := range p.replicas {
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.ops+"/readyz", nil)
			if resp, err := p.http.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("--replicas: replica %s (ops %s) is not ready: %w (its log is above)", r.name, r.ops, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// announceReplicas tells a newcomer what runs and how to see a takeover.
func announceReplicas(w io.Writer, front string, replicas []poolReplica, first poolStarted) {
	fmt.Fprintf(w, "replicas: %d transferd replicas in outbound mode behind HAProxy; Asterisk's websocket_client connects to ws://%s/ari\n", len(replicas), front)
	for i, r := range replicas {
		fmt.Fprintf(w, "  replica %s: pid %d, ops http://%s (/metrics, /readyz), listens on %s\n", r.name, first.pids[i], r.ops, r.listen)
	}
	serving := replicas[first.serving]
	// HAProxy's balance first: the first ready replica in order.
	next := replicas[0]
	if first.serving == 0 {
		next = replicas[1]
	}
	fmt.Fprintf(w, "replicas: replica %s serves Asterisk (transferd_ari_connected 1 on its /metrics).\n"+
		"To see a takeover, call between two phones, then\n"+
		"  kill -9 %d\n"+
		"replica %s takes over and the call goes on; see it with\n"+
		"  curl -s http://%s/metrics | grep -E '^transferd_(ari_connected|active_calls) '\n"+
		"A replica that dies is started again, so the pool stays at %d.\n",
		serving.name, first.pids[first.serving], next.name, next.ops, len(replicas))
}

// freeLoopbackAddr returns a loopback address whose port is free now.
func freeLoopbackAddr() (string, error) {
	// Below the kernel's ephemeral range (32768-60999 on Linux): a port
	// taken from that range and released is soon some outgoing
	// connection's local port (Asterisk's, a phone's), and a replica
	// restarted on it could never bind it again (seen in CI: "bind:
	// address already in use", forever).
	var err error
	for range 50 {
		var ln net.Listener
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(10000)))
		if err == nil {
			defer ln.Close()
			return ln.Addr().String(), nil
		}
	}
	return "", fmt.Errorf("--replicas: pick a free port: %w", err)
}
