package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/haproxy"
)

// outbound puts the bed's transferd in outbound mode: Asterisk connects to
// it (ari.conf outbound_websocket, a persistent websocket_client) and
// REST requests travel over that connection.
func outbound(c *Config) { c.ARI.Mode = "outbound" }

// In outbound mode, every transfer works as in inbound mode: here a blind
// transfer and an attended one (the inbound tests' scenarios), with audio
// and displays checked, nothing left after.
func TestOutboundModeTransfers(t *testing.T) {
	t.Run("blind", func(t *testing.T) { blindTransferAnsweredCallerTalksToTarget(t, inMode("ari-only", outbound)) })
	t.Run("attended", func(t *testing.T) { attendedTransferCompletedCallerTalksToColleague(t, inMode("ari-only", outbound)) })
}

// A call placed while no transferd is connected waits in Stasis (Asterisk
// keeps the application registered and queues its events) and goes
// through once transferd is back: the callee rings and both talk.
func TestOutboundCallWaitsForTransferd(t *testing.T) {
	b := newBed(t, outbound, "101", "102")
	b.stopDaemon()
	result := b.dial("101", "102")
	time.Sleep(2 * time.Second) // the caller waits: nobody serves the app
	select {
	case r := <-result:
		t.Fatalf("the call ended while transferd was away: %v", r.err)
	default:
	}
	b.stopDaemon = b.startDaemon()
	in := b.rings("102")
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	r := <-result
	if r.err != nil {
		t.Fatalf("101's call: %v", r.err)
	}
	b.talkThenHangUp("101", r.call, "102", in)
}

// A transferd restarted while a call talks: Asterisk reconnects to the new
// one, which adopts the call; a blind transfer on it then works.
func TestOutboundRestartKeepsTheCall(t *testing.T) {
	b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.stopDaemon()
	b.stopDaemon = b.startDaemon()
	b.waitReady()
	b.hears("101 (after the restart)", a, "102")
	tr := b.blindTransferOn(a, c, "103")
	in := b.toldThenRings(tr, c, "103")
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.talkThenHangUp("101", a, "103", in)
}

// Inbound mode with no transferd connected: the dialplan falls back to a
// plain call with Asterisk's own transfer handling. The office can still
// call, and transfer with the Tran key (here a blind transfer), audio
// checked both ways.
func TestWithoutTransferdCallsFallBackToPlainAsterisk(t *testing.T) {
	b := newBed(t, nil, "101", "102", "103")
	b.stopDaemon()
	waitAppGone(b.ctx, t, b.sb, b.cfg.ARI.App)
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.hears("102", c, "101")
	tr := b.blindTransferOn(a, c, "103")
	b.told(tr, 200) // (Asterisk's NOTIFY: transferd is not there)
	c.Hangup(b.ctx)
	in := b.rings("103")
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.talkThenHangUp("101", a, "103", in)
}

// replica is one transferd process of a replicated deployment behind
// HAProxy, in outbound mode.
type replica struct {
	name, listen, ops string
	kill              func()
}

// startReplica runs a transferd process in outbound mode with listeners of
// its own and waits until it is ready to take Asterisk's connection.
func (b *bed) startReplica(name string) *replica {
	b.t.Helper()
	r := &replica{name: name, listen: freeAddr(b.t), ops: freeAddr(b.t)}
	r.kill = b.spawn("replica "+name, "TRANSFERD_ARI_MODE=outbound", "TRANSFERD_ARI_LISTEN="+r.listen, "TRANSFERD_HTTP_LISTEN="+r.ops)
	b.waitReadyAt(r.ops)
	return r
}

// waitReadyAt waits until the transferd whose operator endpoints are at
// ops answers /readyz with 200.
func (b *bed) waitReadyAt(ops string) {
	b.t.Helper()
	for {
		req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, "http://"+ops+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("transferd at %s is not ready: %v", ops, b.ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// activeCallsAt reads transferd_active_calls from the transferd whose
// operator endpoints are at ops (-1 when it cannot be read).
func (b *bed) activeCallsAt(ops string) int {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, "http://"+ops+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "transferd_active_calls "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// startHAProxy runs HAProxy on front (the address Asterisk's
// websocket_client connects to) in front of replicas, configured as the
// README's "High availability" section says (internal/haproxy).
func (b *bed) startHAProxy(front string, replicas ...*replica) {
	b.t.Helper()
	opts := haproxy.Options{Front: front, Dir: b.t.TempDir(), Logf: b.t.Logf}
	for _, r := range replicas {
		opts.Replicas = append(opts.Replicas, haproxy.Replica{Name: r.name, Listen: r.listen, Ops: r.ops})
	}
	p, err := haproxy.Start(b.ctx, opts)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { b.t.Logf("haproxy:\n%s", p.Stop()) })
}

// Two transferd replicas behind HAProxy: the one serving Asterisk is
// SIGKILLed while a call talks; Asterisk reconnects through HAProxy to the
// other, which adopts the call: it keeps its audio, and a blind transfer
// on it works.
func TestReplicaKilledWhileACallTalks(t *testing.T) {
	b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
	b.stopDaemon()
	first, second := b.startReplica("a"), b.startReplica("b")
	b.startHAProxy(b.cfg.ARI.Listen, first, second)
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.hears("102", c, "101")
	if n := b.activeCallsAt(first.ops); n != 1 {
		t.Fatalf("replica a handles %d calls, want the one (HAProxy's balance first)", n)
	}
	killed := time.Now()
	first.kill()
	for b.activeCallsAt(second.ops) != 1 {
		if time.Since(killed) > 10*time.Second {
			t.Fatal("replica b did not take the call over")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("replica b took the call over %s after the kill", time.Since(killed).Round(time.Millisecond))
	b.hears("101 (after the kill)", a, "102")
	tr := b.blindTransferOn(a, c, "103")
	in := b.toldThenRings(tr, c, "103")
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.talkThenHangUp("101", a, "103", in)
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if left, _ := b.sb.WaitEmpty(ctx, 5*time.Second); left != "" {
		t.Errorf("Asterisk still holds after the call: %s", left)
	}
}
