package main

import (
	"testing"
	"time"
)

// outbound puts the bed's transferd in outbound mode: Asterisk connects to
// it (ari.conf outbound_websocket, a persistent websocket_client) and
// REST requests travel over that connection.
func outbound(c *Config) { c.ARI.Mode = "outbound" }

// In outbound mode, every transfer works as in inbound mode: here a blind
// transfer and an attended one, with audio checked, nothing left after.
func TestOutboundModeTransfers(t *testing.T) {
	t.Run("blind", func(t *testing.T) {
		b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
		a, c, tr := b.blindTransfer("103")
		in := b.toldThenRings(tr, c, "103")
		b.hearsRingback("101 (ringback while 103 rings)", a)
		if err := in.Answer(b.ctx); err != nil {
			t.Fatal(err)
		}
		b.displays("101", a, "103")
		b.talkThenHangUp("101", a, "103", in)
	})
	t.Run("attended", func(t *testing.T) {
		b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
		a, first, second, colleague := b.consult(true)
		tr, err := first.AttendedTransfer(b.ctx, second)
		if err != nil {
			t.Fatal(err)
		}
		b.toldThenHangsUp(tr, first)
		if err := second.WaitEnded(b.ctx); err != nil {
			t.Fatalf("102's consultation call is not hung up after the transfer: %v", err)
		}
		b.talkThenHangUp("101", a, "103", colleague.incoming)
	})
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
