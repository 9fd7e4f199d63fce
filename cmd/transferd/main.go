// Command transferd is the ARI controller that performs call transfers for
// an Asterisk 22 PBX. It only wires: configuration (viper), logging (zap),
// the ARI client and the transfer engine.
//
//	transferd [--config FILE] [flags]   run against a PBX
//	transferd --sandbox                 run against a local Asterisk sandbox
//	transferd config check [--config FILE]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/transferd/transferd/ari"
	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/transfer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "transferd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("transferd", pflag.ContinueOnError)
	addConfigFlags(fs)
	withSandbox := fs.Bool("sandbox", false, "start a local Asterisk 22 sandbox with phones 101-109 (context transferd) and run against it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch rest := fs.Args(); {
	case len(rest) == 2 && rest[0] == "config" && rest[1] == "check":
		cfg, err := loadConfig(fs)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "config ok: ari %s as %s (password set), app %q, dial %s, no answer → %s, transfer no answer → %s\n",
			cfg.ARI.URL, cfg.ARI.Username, cfg.ARI.App, cfg.Calls.DialTemplate, cfg.Calls.NoAnswer, cfg.Transfer.NoAnswer)
		return nil
	case len(rest) > 0:
		return fmt.Errorf("unknown command %q (want no command, or \"config check\")", rest)
	}

	if *withSandbox {
		sb, err := sandbox.New(ctx, sandbox.Options{PhoneContext: "transferd", Logf: func(f string, a ...any) {
			fmt.Fprintf(stdout, f+"\n", a...)
		}})
		if err != nil {
			return err
		}
		defer sb.Stop(context.Background())
		fmt.Fprintf(stdout, "sandbox: register phones 101-109 at sip:%s (user = extension, password = pw-<extension>)\n", sb.SIPAddr)
		// The sandbox's ARI settings override the defaults; flags and a
		// config file still set everything else.
		os.Setenv("TRANSFERD_ARI_URL", sb.ARIURL)
		os.Setenv("TRANSFERD_ARI_USERNAME", sb.ARIUser)
		os.Setenv("TRANSFERD_ARI_PASSWORD", sb.ARIPassword)
	}
	cfg, err := loadConfig(fs)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	defer log.Sync()
	return serve(ctx, cfg, log)
}

// serve connects to ARI and runs the engine until ctx is cancelled. Calls
// in progress are left in Asterisk (SIGTERM never drops a call). If
// Asterisk is not up yet, serve waits for it, unready, rather than exit.
func serve(ctx context.Context, cfg *Config, log *zap.Logger) error {
	client, err := ari.New(ari.Config{
		URL:      cfg.ARI.URL,
		Username: cfg.ARI.Username,
		Password: cfg.ARI.Password,
		App:      cfg.ARI.App,
		Logger:   log.Named("ari"),
	})
	if err != nil {
		return fmt.Errorf("ari client: %w", err)
	}
	defer client.Close()
	var engine *transfer.Engine
	o := newOps(log.Named("ops"), func() int { return engine.ActiveCalls() })
	engine, err = transfer.New(cfg.Engine(), transfer.NewARIAsterisk(client), transfer.Options{
		Logger:   log.Named("transfer"),
		Observer: o,
	})
	if err != nil {
		return err
	}
	stopHTTP, err := o.serveHTTP(ctx, cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	defer stopHTTP()

	events, err := subscribe(ctx, client, cfg, log)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	o.ready.Store(true)
	log.Info("transferd running", zap.String("ari", cfg.ARI.URL), zap.String("app", cfg.ARI.App))
	err = engine.Run(ctx, o.watch(ctx, events))
	if errors.Is(err, context.Canceled) || err == nil {
		log.Info("transferd stopping; calls in progress stay in Asterisk", zap.Int("active_calls", engine.ActiveCalls()))
		return nil
	}
	return err
}

// subscribe connects the event stream, retrying while Asterisk is down. A
// wrong password is not retried: it will not fix itself.
func subscribe(ctx context.Context, client *ari.Client, cfg *Config, log *zap.Logger) (<-chan ari.Event, error) {
	wait := 500 * time.Millisecond
	for {
		events, err := client.Subscribe(ctx)
		if err == nil {
			return events, nil
		}
		if strings.Contains(err.Error(), "401") {
			return nil, err
		}
		log.Warn("Asterisk not reachable; retrying", zap.String("ari", cfg.ARI.URL), zap.Error(err), zap.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Second)
	}
}

func newLogger(level, format string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	if format == "auto" {
		format = "json"
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "console"
		}
	}
	cfg := zap.NewProductionConfig()
	if format == "console" {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	return cfg.Build()
}
