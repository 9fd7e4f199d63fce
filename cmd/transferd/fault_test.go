package main

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// cutter is a TCP proxy between transferd and Asterisk's ARI that can cut
// every connection at once, as a network failure or a stopped HTTP server
// would. New connections go through again.
type cutter struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	conns   []net.Conn
	blocked bool // refuse new connections (Asterisk unreachable)
}

func (c *cutter) block(b bool) {
	c.mu.Lock()
	c.blocked = b
	c.mu.Unlock()
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); c.cut() })
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			blocked := c.blocked
			c.mu.Unlock()
			up, err := net.Dial("tcp", target)
			if blocked || err != nil {
				if up != nil {
					up.Close()
				}
				down.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, down, up)
			c.mu.Unlock()
			go func() { io.Copy(up, down); up.Close() }()
			go func() { io.Copy(down, up); down.Close() }()
		}
	}()
	return c
}

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// viaCutter makes transferd reach ARI through a cutter.
func viaCutter(t *testing.T, proxy **cutter) func(*Config) {
	return func(c *Config) {
		u, _ := url.Parse(c.ARI.URL)
		*proxy = newCutter(t, u.Host)
		c.ARI.URL = "http://" + (*proxy).ln.Addr().String()
	}
}

// The ARI connection breaks in each phase of each transfer; transferd
// reconnects, reconciles, and every call still ends the way its people
// expect.
func TestARIConnectionCutInEachTransferPhase(t *testing.T) {
	t.Run("talking, then a blind transfer", func(t *testing.T) {
		var p *cutter
		b := newBed(t, viaCutter(t, &p), "101", "102", "103")
		a, c := b.call("101", "102")
		p.cut()
		time.Sleep(300 * time.Millisecond) // transferd notices and reconnects
		b.hears("101 (after the cut)", a, "102")
		in := b.toldThenRings(b.blindTransferOn(a, c, "103"), c, "103")
		in.Answer(b.ctx)
		b.talkThenHangUp("101", a, "103", in)
	})
	t.Run("blind transfer ringing", func(t *testing.T) {
		var p *cutter
		b := newBed(t, viaCutter(t, &p), "101", "102", "103")
		a, c, tr := b.blindTransfer("103")
		in := b.toldThenRings(tr, c, "103")
		p.cut()
		time.Sleep(300 * time.Millisecond)
		in.Answer(b.ctx)
		b.talkThenHangUp("103", in, "101", a)
	})
	t.Run("attended consultation", func(t *testing.T) {
		var p *cutter
		b := newBed(t, viaCutter(t, &p), "101", "102", "103")
		a, first, second, colleague := b.consult(true)
		p.cut()
		time.Sleep(300 * time.Millisecond)
		tr, err := first.AttendedTransfer(b.ctx, second)
		if err != nil {
			t.Fatal(err)
		}
		b.told(tr, 200)
		b.hears("101", a, "103")
		b.hears("103", colleague.incoming, "101")
		a.Hangup(b.ctx)
		colleague.incoming.WaitEnded(b.ctx)
	})
	t.Run("a REFER while disconnected is found after the reconnect", func(t *testing.T) {
		// Asterisk answers 102's REFER 202 and keeps it pending; its
		// ChannelTransfer goes to nobody (the application has no
		// connection). Back, transferd probes the talking call's phones
		// and carries the REFER out.
		var p *cutter
		b := newBed(t, inMode("ari-only", viaCutter(t, &p)), "101", "102", "103")
		a, c := b.call("101", "102")
		b.hears("101", a, "102")
		p.block(true)
		p.cut()
		time.Sleep(300 * time.Millisecond) // Asterisk notices
		tr := b.blindTransferOn(a, c, "103")
		sent := time.Now()
		p.block(false)
		b.pendingBlindReferCarriedOut(tr, sent, a, c)
	})
	t.Run("a hangup while disconnected is reconciled", func(t *testing.T) {
		var p *cutter
		b := newBed(t, viaCutter(t, &p), "101", "102")
		a, c := b.call("101", "102")
		p.block(true)
		p.cut()
		c.Hangup(b.ctx) // transferd cannot see this
		time.Sleep(500 * time.Millisecond)
		if _, body := b.get("/readyz"); body == "ready\n" {
			t.Error("ready while ARI is unreachable")
		}
		p.block(false)
		// After reconnecting, transferd learns 102 is gone and ends the
		// call: 101 is not left alone in a bridge.
		if err := a.WaitEnded(b.ctx); err != nil {
			t.Fatalf("101 is left in the call: %v", err)
		}
	})
}
