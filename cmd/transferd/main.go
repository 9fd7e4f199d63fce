// Command transferd is the ARI controller that performs call transfers for
// an Asterisk 22 PBX. It only wires: configuration (viper), logging (zap),
// the ARI client and the transfer engine.
//
//	transferd [--config FILE] [flags]   run against a PBX
//	transferd --sandbox                 run against a local Asterisk sandbox
//	transferd --sandbox --replicas 2    the same through HAProxy to 2 replicas
//	transferd --sandbox --nodes 2       2 sandbox Asterisk nodes joined by a trunk, one transferd
//	transferd config check [--config FILE]
//	transferd version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/transferd/transferd/ari"
	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/transfer"
)

func main() { mainWith(hooks{}) }

// hooks are what a test hangs on a transferd process: the end-to-end
// tests' TestMain runs the test binary as transferd with some set (a
// replica that dies at a chosen event); transferd itself sets none.
type hooks struct {
	// onEvent, when set, sees every ARI event of every node as the
	// node's stream reads it, before the engine does (ari.Config.OnEvent:
	// on the stream's goroutine, in order).
	onEvent func(ari.Event)
}

// mainWith is main with hooks.
func mainWith(h hooks) {
	tuneRuntime()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runWith(ctx, os.Args[1:], os.Stdout, h); err != nil {
		fmt.Fprintln(os.Stderr, "transferd:", err)
		os.Exit(1)
	}
}

// tuneRuntime runs transferd on one processor, unless GOMAXPROCS in the
// environment says otherwise.
//
// transferd's work is short bursts (an event in, a REST request out)
// spread over many goroutines, and with more processors Go spends its time
// waking idle ones and looking for work to steal. In the load harness one
// processor cut transferd's CPU per transfer by about 20 % on a 2-core
// machine, at every load Asterisk itself sustained; the engine handles
// over 100,000 events a second on one core, far beyond what one Asterisk
// sends. (GOGC 400 as well saved a few per cent more but made the live
// heap after a collection read four times larger, which blurs the load
// harness's leak check.)
func tuneRuntime() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	return runWith(ctx, args, stdout, hooks{})
}

// runWith is run with hooks (those of the daemon it serves).
func runWith(ctx context.Context, args []string, stdout io.Writer, h hooks) error {
	fs := pflag.NewFlagSet("transferd", pflag.ContinueOnError)
	addConfigFlags(fs)
	withSandbox := fs.Bool("sandbox", false, "start a local Asterisk 22 sandbox with demo phones 101-103 (with mailboxes) and run against it")
	demo := fs.Bool("demo", false, "with --sandbox: walk simulated phones through a blind, an attended (with Resume) and a *8 voicemail transfer, narrating, then exit")
	replicas := fs.Int("replicas", 0, "with --sandbox: run N (2 or more) transferd replicas in outbound mode behind HAProxy, restarting any that dies (see a takeover with kill -9)")
	nodeCount := fs.Int("nodes", 0, fmt.Sprintf("with --sandbox: start N (2 to %d) sandbox Asterisk nodes, every pair joined by a SIP trunk, node<i> with phones i01-i03, all served by this transferd in outbound mode with routes between them", maxSandboxNodes))
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(stdout, `transferd: call transfers for an Asterisk 22 PBX, as an ARI controller.

Usage:
  transferd [--config FILE] [flags]          run against a PBX (config: transferd.example.yaml)
  transferd --sandbox [--demo]               run against a local Asterisk sandbox
  transferd --sandbox --replicas 2           the same through HAProxy to 2 replicas
  transferd --sandbox --nodes 2              2 sandbox Asterisk nodes joined by a trunk, one transferd serving both
  transferd config check [--config FILE]     check a configuration and say what it means
  transferd version                          the version, and the Asterisk versions it was tested with

Every setting is also an environment variable: ari.url is TRANSFERD_ARI_URL.

Flags:
%s`, fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	switch rest := fs.Args(); {
	case len(rest) == 2 && rest[0] == "config" && rest[1] == "check":
		cfg, err := loadConfig(fs, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "config ok: ari %s as %s (password set), app %q, dial %s, no answer → %s, transfer no answer → %s, transfer handling %s, operator endpoints %q\n",
			cfg.ARI.URL, cfg.ARI.Username, cfg.ARI.App, cfg.Calls.DialTemplate, cfg.Calls.NoAnswer, cfg.Transfer.NoAnswer, cfg.Transfer.Handling, cfg.HTTP.Listen)
		return nil
	case len(rest) == 1 && rest[0] == "version":
		printVersion(stdout)
		return nil
	case len(rest) > 0:
		return fmt.Errorf("unknown command %q (want no command, \"config check\" or \"version\")", rest)
	}
	if *demo && !*withSandbox {
		return errors.New("--demo needs --sandbox (the demo phones register with the sandbox)")
	}
	if fs.Changed("nodes") {
		switch {
		case !*withSandbox:
			return errors.New("--nodes needs --sandbox (it starts the sandbox's Asterisk nodes and joins them by trunks); for real Asterisk nodes see the README's \"Scale out: many Asterisk nodes\"")
		case fs.Changed("replicas"):
			return errors.New("--nodes with --replicas: not yet (issue 24); --sandbox --nodes N runs one transferd for N nodes, --sandbox --replicas N replicas for one node")
		case *demo:
			return errors.New("--nodes with --demo: not yet; the demo's phones are one node's")
		}
	}
	if fs.Changed("replicas") {
		if !*withSandbox {
			return errors.New("--replicas needs --sandbox (it runs the sandbox's Asterisk in outbound mode through HAProxy to the replicas); for a real PBX see the README's \"High availability\"")
		}
		return runReplicated(ctx, fs, *replicas, *demo, stdout)
	}

	var overrides map[string]any
	var sb *sandbox.Sandbox
	var nodes *sandboxNodes
	logf := func(f string, a ...any) { fmt.Fprintf(stdout, f+"\n", a...) }
	switch {
	case fs.Changed("nodes"):
		var err error
		if nodes, err = startSandboxNodes(ctx, *nodeCount, logf); err != nil {
			return err
		}
		defer nodes.stop()
		overrides = nodes.overrides()
	case *withSandbox:
		var err error
		sb, err = sandbox.New(ctx, sandbox.Options{
			PhoneContext: "transferd",
			Phones:       demoPhones,
			Logf:         logf,
		})
		if err != nil {
			return err
		}
		defer sb.Stop(context.Background())
		announceSandbox(stdout, sb)
		overrides = map[string]any{"ari.url": sb.ARIURL, "ari.username": sb.ARIUser, "ari.password": sb.ARIPassword}
	}
	cfg, err := loadConfig(fs, overrides)
	if err != nil {
		return err
	}
	if nodes != nil {
		nodes.announce(stdout, cfg.HTTP.Listen)
	}
	log, flushLog, err := newLogger(cfg.Log.Level, cfg.Log.Format, os.Stderr)
	if err != nil {
		return err
	}
	defer flushLog()
	if !*demo {
		return serveWith(ctx, cfg, log, h)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serveWith(ctx, cfg, log, h) }()
	demoErr := runDemo(ctx, sb, cfg.ARI.App, stdout)
	cancel()
	if err := <-done; err != nil {
		return err
	}
	return demoErr
}

// serve runs the engines of the Asterisk nodes until ctx is cancelled
// (SIGTERM): in inbound mode one, connecting to ari.url; in outbound mode
// one per Asterisk that connects. Calls in progress are left in Asterisk
// (SIGTERM never drops a call). If Asterisk is not up yet, serve waits for
// it, unready, rather than exit.
func serve(ctx context.Context, cfg *Config, log *zap.Logger) error {
	return serveWith(ctx, cfg, log, hooks{})
}

// serveWith is serve with hooks.
func serveWith(ctx context.Context, cfg *Config, log *zap.Logger, h hooks) error {
	o := newOps(log.Named("ops"))
	o.onEvent = h.onEvent
	// Any replica that runs can take an Asterisk's connection: in
	// outbound mode ready does not wait for one. (Set before the
	// operator endpoints serve: /readyz reads it.)
	o.outbound = cfg.ARI.Mode == "outbound"
	events := newBroadcaster(log.Named("api"))
	// Transfer events go to the API's streams, through the cluster when
	// there is one (every replica streams every node's).
	var (
		publish transfer.Observer = events
		calls   callsBackend
		cl      *cluster
	)
	if cfg.Cluster.NATSURL != "" {
		var err error
		if cl, err = joinCluster(cfg, events, log.Named("cluster")); err != nil {
			return err
		}
		defer cl.close()
		publish = cl
	}
	// (The nodes' streams and engines outlive ctx, SIGTERM, until their
	// hand-over is done.)
	nodes := newNodeSet(ctx, cfg, log, o, publish)
	defer nodes.stop()
	calls = nodes
	if cl != nil {
		cl.local, nodes.onChange = nodes, cl.nodesChanged
		go cl.run(ctx)
		calls = cl
	}
	rest := &api{calls: calls, token: cfg.API.Token, events: events, log: log.Named("api")}
	routes := rest.routes
	if cfg.HTTP.Pprof {
		routes = func(mux *http.ServeMux) {
			rest.routes(mux)
			servePprof(mux)
		}
	}
	stopHTTP, err := o.serveHTTP(ctx, cfg.HTTP.Listen, routes)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	defer stopHTTP()
	if cfg.ARI.Mode == "outbound" {
		return serveOutbound(ctx, cfg, nodes, o, log)
	}
	n, err := nodes.start(cfg.ARI.Node)
	if err != nil {
		return err
	}
	select {
	case <-n.done:
	case <-ctx.Done():
		nodes.handOver()
		nodes.stop()
	}
	if n.err == nil {
		log.Info("transferd stopping; calls in progress stay in Asterisk", zap.Int("active_calls", n.engine.ActiveCalls()))
	}
	return n.err
}

// serveOutbound listens for Asterisk nodes (outbound mode) until ctx is
// cancelled, then makes the replica unready, hands every node's connection
// over and stops.
func serveOutbound(ctx context.Context, cfg *Config, nodes *nodeSet, o *ops, log *zap.Logger) error {
	stopListen, err := listenForAsterisk(cfg, nodes.serveAsterisk, log.Named("ari"))
	if err != nil {
		return err
	}
	o.listening.Store(true)
	go nodes.retireStaleNodes(ctx, 5*time.Second)
	<-ctx.Done()
	// Unready, then closed: each Asterisk's next connection goes to
	// another replica.
	o.listening.Store(false)
	stopListen()
	nodes.handOver()
	nodes.stop()
	log.Info("transferd stopping; calls in progress stay in Asterisk", zap.Int("active_calls", nodes.activeCalls()))
	return nil
}

// subscribe connects the event stream, retrying while Asterisk is down
// (every 0.5 s at first, doubling up to 10 s, each wait randomized by
// ±50 %; each kind of failure logged once: ari.RetryLog). A wrong password
// is not retried: it will not fix itself.
func subscribe(ctx, streamCtx context.Context, client *ari.Client, cfg *Config, log *zap.Logger) (<-chan ari.Event, error) {
	connect := func() (<-chan ari.Event, error) {
		events, err := client.Subscribe(streamCtx)
		if errors.Is(err, ari.ErrUnauthorized) {
			return nil, backoff.Permanent(err)
		}
		return events, err
	}
	retries := ari.NewRetryLog(log, cfg.ARI.URL)
	events, err := backoff.Retry(ctx, connect, backoff.WithBackOff(ari.NewBackOff(500*time.Millisecond, 10*time.Second)),
		backoff.WithMaxElapsedTime(0), backoff.WithNotify(retries.Failed))
	if err == nil {
		retries.Connected()
	}
	return events, err
}

// logFlushInterval bounds how long a log line may wait in transferd's log
// buffer before it is written.
const logFlushInterval = 200 * time.Millisecond

// newLogger returns the daemon's logger and the function that writes out
// what it still buffers (called on the way out).
//
// Lines are buffered (up to 256 KiB or logFlushInterval): under load a
// call logs about eight lines, and writing each as it came cost a write
// system call apiece, a few per cent of transferd's CPU in the load
// harness. Errors are written at once, with what was buffered before them.
func newLogger(level, format string, w *os.File) (*zap.Logger, func(), error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("log.level: %w", err)
	}
	if format == "auto" {
		format = "json"
		if fi, err := w.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "console"
		}
	}
	encCfg := zap.NewProductionEncoderConfig()
	var enc zapcore.Encoder
	opts := []zap.Option{zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel)}
	if format == "console" {
		encCfg = zap.NewDevelopmentEncoderConfig()
		enc = zapcore.NewConsoleEncoder(encCfg)
		opts = []zap.Option{zap.AddCaller(), zap.Development()}
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	out := &zapcore.BufferedWriteSyncer{WS: zapcore.Lock(w), Size: 256 << 10, FlushInterval: logFlushInterval}
	// No sampling: zap's production default keeps only the first 100 of
	// each message per second, so under load whole calls vanished from the
	// log (seen in the load harness), just when an operator needs them.
	core := zapcore.NewCore(enc, out, zap.NewAtomicLevelAt(lvl))
	opts = append(opts, zap.ErrorOutput(zapcore.Lock(w)), zap.Hooks(func(e zapcore.Entry) error {
		if e.Level >= zapcore.ErrorLevel {
			return out.Sync()
		}
		return nil
	}))
	flush := func() {
		out.Stop() // (writes out what is buffered)
	}
	return zap.New(core, opts...), flush, nil
}
