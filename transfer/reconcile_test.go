package transfer

import (
	"errors"
	"testing"

	"github.com/transferd/transferd/ari"
)

func TestReconcileAfterAsteriskRestartForgetsEveryCall(t *testing.T) {
	f := newFakeAsterisk(t)
	stop, e := runEngine(t, f, Config{}, nil, false)
	defer stop()
	talking(t, f)
	f.restarts()
	f.eventually("calls forgotten", func() bool { return e.ActiveCalls() == 0 })
	// New calls work on the restarted Asterisk.
	f.phoneCalls("N", "103", "101")
	f.eventually("101 rings", func() bool { return f.ringingLocked("PJSIP/101") })
}

// Given a call whose caller Asterisk answered while the connection was cut
// (the answer to transferd lost, so the call ended, and its hangups and
// bridge destruction failed too), when the connection is back, then
// reconciling ends what the call left: the caller is not left alone in
// Stasis. A caller no call marked is left alone (its StasisStart may yet
// be replayed).
func TestReconcileEndsWhatACallLeftWhenAsteriskWasUnreachable(t *testing.T) {
	f := newFakeAsterisk(t)
	stop, e := runEngine(t, f, Config{}, nil, false)
	defer stop()
	f.phoneCalls("A", "101", "102")
	f.eventually("102 dialled", func() bool {
		return f.channels[f.createdChannelLocked("PJSIP/102")] != nil && f.channels[f.createdChannelLocked("PJSIP/102")].state == "Ringing"
	})
	callee := f.createdChannel("PJSIP/102")
	cut := errors.New("read tcp: connection reset by peer")
	f.mu.Lock()
	for _, op := range []string{"answer", "hangup", "destroy-bridge"} {
		f.failOp[op] = cut
	}
	f.channels["W"] = &fakeChannel{id: "W", endpoint: "PJSIP/103", state: "Ring"} // unmarked, waiting
	f.mu.Unlock()
	f.answers(callee)
	f.eventually("the call ended", func() bool { return e.ActiveCalls() == 0 })
	f.mu.Lock()
	clear(f.failOp)
	left := f.channels["A"] != nil && len(f.bridges) == 1
	f.mu.Unlock()
	if !left {
		t.Fatalf("the cut did not leave the caller and the bridge behind:\n%s", f.snapshot())
	}
	f.events <- &ari.Reconnected{}
	f.eventually("the caller and the callee hung up, the bridge destroyed", func() bool {
		return f.channels["A"] == nil && f.channels[callee] == nil && len(f.bridges) == 0
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.channels["W"] == nil {
		t.Errorf("the unmarked waiting caller was hung up:\n%s", f.snapshot())
	}
}

// Given a blind transfer's target ringing, when it answers while the
// event stream is broken (the answer never reaches transferd), then
// reconciling on reconnect takes the answer: the caller talks to the
// target instead of hearing ringback for nobody.
func TestReconcileTakesAnAnswerTheBrokenStreamLost(t *testing.T) {
	f := newFakeAsterisk(t)
	stop, _ := runEngine(t, f, Config{}, nil, false)
	defer stop()
	caller, callee := talking(t, f)
	f.refers(callee, caller, "103")
	f.eventually("target rings", func() bool { return f.ringingLocked("PJSIP/103") })
	target := f.createdChannel("PJSIP/103")
	f.mu.Lock()
	f.channels[target].state = "Up" // answered; the events are lost
	f.mu.Unlock()
	f.events <- &ari.Reconnected{}
	f.eventually("caller and target talk, ringback stopped", func() bool {
		return bridgedLocked(f, caller, target) && !f.ringing[caller]
	})
}
