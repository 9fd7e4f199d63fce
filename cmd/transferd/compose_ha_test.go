package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/internal/sipphone"
)

// TestComposeHAStack runs against the stack docker-compose.ha.yml starts
// (CI does: go run ./internal/compose -ha && docker-compose -p
// transferd-ha -f docker-compose.ha.yml up -d), when
// TRANSFERD_COMPOSE_HA=1. 101 calls 102 through the containers' Asterisk,
// HAProxy and the replica that serves; that replica's process is
// SIGKILLed (a crash): the other replica takes the call over and the two
// still hear each other; Docker starts the killed one again.
func TestComposeHAStack(t *testing.T) {
	if os.Getenv("TRANSFERD_COMPOSE_HA") != "1" {
		t.Skip("TRANSFERD_COMPOSE_HA=1 runs this against a running docker-compose.ha.yml stack")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The stack's fixed addresses (docker-compose.ha.yml, internal/compose/ha.go).
	sb := &sandbox.Sandbox{ARIURL: "http://127.0.0.1:8089", ARIUser: "transferd", ARIPassword: "transferd-demo", SIPAddr: "127.0.0.1:5070"}
	replicas := []struct{ name, ops string }{{"a", "127.0.0.1:9571"}, {"b", "127.0.0.1:9572"}}
	b := &bed{t: t, ctx: ctx, sb: sb, phones: map[string]*sipphone.Phone{}}
	// serving is the replica Asterisk is connected to (-1: none yet).
	serving := func() int {
		for i, r := range replicas {
			if v, ok := gauge(ctx, http.DefaultClient, r.ops, "transferd_ari_connected"); ok && v == 1 {
				return i
			}
		}
		return -1
	}
	first := serving()
	for ; first < 0; first = serving() {
		if ctx.Err() != nil {
			t.Fatal("Asterisk is connected to no replica (transferd_ari_connected 1 on neither /metrics)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, ext := range []string{"101", "102"} {
		p, err := sipphone.New(ctx, sipphone.Config{Ext: ext, Password: sandbox.PhonePassword(ext), Server: sb.SIPAddr, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Register(ctx); err != nil {
			t.Fatalf("phone %s registers with the compose Asterisk: %v", ext, err)
		}
		b.phones[ext] = p
	}
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.hears("102", c, "101")
	killed, other := replicas[first], replicas[1-first]
	if n := b.metricAt(killed.ops, "transferd_active_calls"); n != 1 {
		t.Fatalf("replica %s serves Asterisk but handles %d calls, want the one", killed.name, n)
	}

	container := "transferd-ha-" + killed.name
	out, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.State.Pid}}", container).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", container, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || pid <= 0 {
		t.Fatalf("docker inspect %s: pid %q", container, out)
	}
	at := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d (%s): %v", pid, container, err)
	}
	for serving() != 1-first || b.metricAt(other.ops, "transferd_active_calls") != 1 {
		if time.Since(at) > 10*time.Second {
			t.Fatalf("replica %s did not take the call over", other.name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("replica %s took the call over %s after replica %s's kill", other.name, time.Since(at).Round(time.Millisecond), killed.name)
	b.hears("101 (after the kill)", a, "102")
	b.hears("102 (after the kill)", c, "101")
	a.Hangup(ctx)
	if err := c.WaitEnded(ctx); err != nil {
		t.Fatalf("102's call does not end after 101 hung up: %v", err)
	}
	if left, err := sb.WaitEmpty(ctx, 5*time.Second); err != nil || left != "" {
		t.Errorf("left in the compose Asterisk: %s %v", left, err)
	}
	// Docker's restart policy (a crash is no stop) brings it back.
	b.waitReadyAt(killed.ops)
	t.Logf("replica %s is back (ready) %s after its kill", killed.name, time.Since(at).Round(time.Millisecond))
}
