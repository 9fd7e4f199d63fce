package transfer

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// gatedPolicy allows every transfer, but holds an attended one's check
// (made by the consultation call as it is asked to hand itself over)
// until the test opens the gate: the hand-over is then under way for as
// long as the test needs.
type gatedPolicy struct {
	entered chan struct{}
	gate    chan struct{}
}

func (p *gatedPolicy) AllowTransfer(ctx context.Context, req Request) error {
	if req.Kind != KindAttended {
		return nil
	}
	p.entered <- struct{}{}
	select {
	case <-p.gate:
	case <-ctx.Done():
	}
	return nil
}

// Given core handling and an attended transfer Asterisk completed itself
// (its Local pair links the call to the consultation, whose hand-over is
// under way), when the other party's phone blind-transfers the call with
// Asterisk's own handling at that moment, then the blind transfer is
// taken as that party hanging up: the call ends, and nothing is dialled
// for the attended transfer's Local link. (Taken as a transferee, the link
// was dialled a target or sent to voicemail, and the consultation's
// colleague rang on for it; the engine fuzz found it when it still handed
// events over in bursts.)
func TestGivenAnAttendedHandOverUnderWayWhenAsteriskBlindTransfersTheOtherPartyThenTheCallEnds(t *testing.T) {
	f := newFakeAsterisk(t)
	policy := &gatedPolicy{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	e, err := New(coreConfig(), f, Options{Logger: zaptest.NewLogger(t), Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, f.events)
	}()
	defer func() {
		cancel()
		<-done
	}()

	x1, b2, _ := consulting(t, f, true)
	f.coreAttendedTransfers(x1, b2, true)
	select {
	case <-policy.entered:
	case <-time.After(3 * time.Second):
		t.Fatalf("the consultation was never asked to hand itself over\n%s", f.snapshot())
	}
	local, _ := f.coreBlindTransfers("A", "104")
	f.eventually("the blind transfer's Local hung up", func() bool { return f.hungUp[local] != "" })
	close(policy.gate)
	f.eventually("everything transferd holds gone", func() bool {
		for id := range f.channels {
			if !f.swappedOut[id] {
				return false
			}
		}
		return len(f.bridges) == 0
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if strings.HasSuffix(c, " PJSIP/104") || strings.HasPrefix(c, "continue ") {
			t.Errorf("the blind transfer was carried out (%q) with the attended transfer's link for transferee\n%s", c, f.snapshotLocked())
		}
	}
}
