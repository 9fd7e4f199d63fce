package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/internal/sipphone"
)

// TestComposeStackBlindTransfer runs against the stack docker-compose.yml
// starts (CI does: go run ./internal/compose && docker-compose up -d), when
// TRANSFERD_COMPOSE=1: the demo phones call through the containers'
// Asterisk and transferd, 102 transfers 101 to 103, and the people hear
// what they should.
func TestComposeStackBlindTransfer(t *testing.T) {
	if os.Getenv("TRANSFERD_COMPOSE") != "1" {
		t.Skip("TRANSFERD_COMPOSE=1 runs this against a running docker-compose stack")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The stack's fixed addresses (docker-compose.yml, internal/compose).
	sb := &sandbox.Sandbox{ARIURL: "http://127.0.0.1:8088", ARIUser: "transferd", ARIPassword: "transferd-demo", SIPAddr: "127.0.0.1:5060"}
	b := &bed{t: t, ctx: ctx, sb: sb, phones: map[string]*sipphone.Phone{}, ops: "http://127.0.0.1:9570"}
	waitAppRegistered(ctx, t, sb, "transferd")
	for _, ext := range []string{"101", "102", "103"} {
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
	_, before := b.get("/metrics")

	a, c, tr := b.blindTransfer("103")
	if code, err := tr.WaitFinal(ctx); err != nil || code != 200 {
		t.Fatalf("102's phone is told %d (%v), want 200", code, err)
	}
	c.Hangup(ctx)
	in, err := b.phones["103"].WaitIncoming(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.hearsMusic("101 (ringback)", a)
	in.Answer(ctx)
	b.hears("101", a, "103")
	b.hears("103", in, "101")
	a.Hangup(ctx)
	if err := in.WaitEnded(ctx); err != nil {
		t.Fatal(err)
	}
	if left, err := sb.WaitEmpty(ctx, 5*time.Second); err != nil || left != "" {
		t.Errorf("left in the compose Asterisk: %s %v", left, err)
	}
	_, after := b.get("/metrics")
	line := `transferd_transfers_total{kind="blind",node="pbx",outcome="completed"}`
	if counter(before, line)+1 != counter(after, line) {
		t.Errorf("the transfer is not counted: before %v, after %v", counter(before, line), counter(after, line))
	}
}

// counter reads a metric line's value ("name{labels} 3"), 0 when absent.
func counter(body, series string) int {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			var n int
			for _, r := range v {
				if r < '0' || r > '9' {
					break
				}
				n = n*10 + int(r-'0')
			}
			return n
		}
	}
	return 0
}
