package sandbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/internal/sipphone"
)

// TestSmokePhonesTalkHoldAndResumeThroughPlainAsterisk proves the test bed
// with no controller: 101 calls 102 through Asterisk's own Dial, both hear
// each other, a hold gives the held party music, a resume brings the voices
// back, and nothing is left in Asterisk afterwards.
func TestSmokePhonesTalkHoldAndResumeThroughPlainAsterisk(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping tests that run a real Asterisk")
	}
	t.Parallel()
	sb := sandbox.Start(t, sandbox.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	p101 := newPhone(ctx, t, sb, "101")
	p102 := newPhone(ctx, t, sb, "102")

	dialled := make(chan *sipphone.Call, 1)
	go func() {
		c, err := p101.Dial(ctx, "102")
		if err != nil {
			t.Errorf("101 dials 102: %v", err)
		}
		dialled <- c
	}()
	incoming, err := p102.WaitIncoming(ctx)
	if err != nil {
		t.Fatalf("102 does not ring: %v", err)
	}
	if err := incoming.Answer(ctx); err != nil {
		t.Fatalf("102 answers: %v", err)
	}
	out := <-dialled
	if out == nil {
		t.FailNow()
	}

	// Talking: each phone hears the other's voice (its tone) for a second.
	expectHearing(ctx, t, "101", out, p102.ToneHz())
	expectHearing(ctx, t, "102", incoming, p101.ToneHz())

	// 101 presses Hold: 102 hears music on hold — sound, but nobody's voice.
	if err := out.Hold(ctx); err != nil {
		t.Fatalf("101 holds: %v", err)
	}
	expectMusic(ctx, t, "102", incoming)

	// 101 resumes: voices again, both ways.
	if err := out.Unhold(ctx); err != nil {
		t.Fatalf("101 resumes: %v", err)
	}
	expectHearing(ctx, t, "101", out, p102.ToneHz())
	expectHearing(ctx, t, "102", incoming, p101.ToneHz())

	if err := out.Hangup(ctx); err != nil {
		t.Fatalf("101 hangs up: %v", err)
	}
	if err := incoming.WaitEnded(ctx); err != nil {
		t.Fatalf("102's call does not end: %v", err)
	}
}

func newPhone(ctx context.Context, t *testing.T, sb *sandbox.Sandbox, ext string) *sipphone.Phone {
	t.Helper()
	p, err := sipphone.New(ctx, sipphone.Config{Ext: ext, Password: sb.PhonePassword(ext), Server: sb.SIPAddr, Logf: t.Logf})
	if err != nil {
		t.Fatalf("phone %s: %v", ext, err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Register(ctx); err != nil {
		t.Fatalf("phone %s registers: %v", ext, err)
	}
	return p
}

// expectHearing waits until who hears a full second of the tone toneHz.
func expectHearing(ctx context.Context, t *testing.T, who string, c *sipphone.Call, toneHz float64) {
	t.Helper()
	if err := c.WaitHearing(ctx, toneHz, time.Second); err != nil {
		t.Fatalf("%s does not hear %.0f Hz: %v (last second: %+v)", who, toneHz, err, c.Heard(time.Second))
	}
}

// expectMusic waits until who hears a full second of sound that is no
// phone's tone: music on hold.
func expectMusic(ctx context.Context, t *testing.T, who string, c *sipphone.Call) {
	t.Helper()
	if err := c.WaitMusic(ctx, time.Second); err != nil {
		t.Fatalf("%s does not hear music on hold: %v (last second: %+v)", who, err, c.Heard(time.Second))
	}
}
