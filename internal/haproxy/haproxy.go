// Package haproxy runs Debian's HAProxy in front of transferd replicas in
// outbound mode, the way the README's "High availability" section
// configures it: Asterisk's persistent websocket_client connects to the
// front address and lands on the first replica whose /readyz answers 200;
// a failed connection is redispatched to the next one, and the tunnel
// lives as long as Asterisk keeps it. The end-to-end tests, the load
// harness and the sandbox (--replicas) use it.
package haproxy

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/transferd/transferd/internal/sandbox"
)

// Replica is one transferd behind HAProxy.
type Replica struct {
	Name string
	// Listen is where it accepts Asterisk's outbound websocket (ari.listen).
	Listen string
	// Ops is its operator endpoint (http.listen): HAProxy checks /readyz.
	Ops string
}

// Options says what HAProxy fronts.
type Options struct {
	// Front is the address Asterisk's websocket_client connects to.
	Front    string
	Replicas []Replica
	// Balance is HAProxy's balance algorithm: "first" (default: one
	// Asterisk, a standby replica) or "leastconn" (many Asterisk nodes).
	Balance string
	// Dir holds the configuration file; a temporary directory if empty.
	Dir  string
	Logf func(string, ...any)
}

// Proxy is a running HAProxy.
type Proxy struct {
	cmd  *exec.Cmd
	logs *lockedBuffer
	once sync.Once
}

// Config returns HAProxy's configuration for opts.
func Config(opts Options) string {
	balance := opts.Balance
	if balance == "" {
		balance = "first"
	}
	var servers strings.Builder
	for _, r := range opts.Replicas {
		_, opsPort, _ := net.SplitHostPort(r.Ops)
		fmt.Fprintf(&servers, "  server %s %s check port %s\n", r.Name, r.Listen, opsPort)
	}
	// inter 300ms fall 1: a replica that turns unready (SIGTERM) or dies
	// is out of the pool within a third of a second, before Asterisk's
	// reconnect (reconnect_interval) comes.
	return fmt.Sprintf(`global
  maxconn 1000
defaults
  mode http
  timeout connect 1s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  option redispatch
  retries 3
frontend asterisk
  bind %s
  default_backend transferd
backend transferd
  balance %s
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 300ms fall 1 rise 1
  # A replica host that goes silent (no FIN: host or network gone) ends
  # Asterisk's tunnel within about three seconds, so Asterisk reconnects.
  option srvtcpka
  srvtcpka-idle 1s
  srvtcpka-intvl 1s
  srvtcpka-cnt 2
%s`, opts.Front, balance, servers.String())
}

// Start writes the configuration and starts HAProxy (installing Debian's
// package when it is missing and this runs as root).
func Start(ctx context.Context, opts Options) (*Proxy, error) {
	bin, err := sandbox.FindOrInstall(ctx, "haproxy", "haproxy", opts.Logf)
	if err != nil {
		return nil, err
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "transferd-haproxy-"); err != nil {
			return nil, fmt.Errorf("haproxy: %w", err)
		}
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(Config(opts)), 0o644); err != nil {
		return nil, fmt.Errorf("haproxy: write its configuration: %w", err)
	}
	cmd := exec.Command(bin, "-f", path, "-db")
	// HAProxy dies with its starter, even a SIGKILLed one: left behind,
	// it would keep a port and route to replicas that are gone. (Linux
	// signals when the starting thread exits; Go ends a thread only when
	// a goroutine locked to it returns, which Start's callers do not.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &Proxy{cmd: cmd, logs: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("haproxy: start %s: %w", bin, err)
	}
	return p, nil
}

// Stop stops HAProxy and returns what it logged.
func (p *Proxy) Stop() string {
	p.once.Do(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	return p.logs.String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
