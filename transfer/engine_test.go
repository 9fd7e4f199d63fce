package transfer

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// The engine on the fake Asterisk: the helpers every engine test uses
// (runEngine, talking, noneLeft, ...) and a plain call, from dialling to
// hangup. Each transfer has tests of its own (engine_blind_test.go,
// attended_test.go, voicemail_test.go, ...).

// startEngine runs an engine on a fake Asterisk until the test ends.
func startEngine(t *testing.T, cfg Config) *fakeAsterisk {
	t.Helper()
	return startObservedEngine(t, cfg, nil)
}

// startObservedEngine is startEngine with an Observer.
func startObservedEngine(t *testing.T, cfg Config, obs Observer) *fakeAsterisk {
	t.Helper()
	f := newFakeAsterisk(t)
	stop, _ := runEngine(t, f, cfg, obs, false)
	t.Cleanup(stop)
	return f
}

// runEngine runs an engine on f (adopting what f holds first, with adopt)
// until stop is called; stop leaves the calls in f, like a transferd that
// is stopped or killed.
func runEngine(t *testing.T, f *fakeAsterisk, cfg Config, obs Observer, adopt bool) (stop func(), e *Engine) {
	t.Helper()
	e, err := New(cfg, f, Options{Logger: zaptest.NewLogger(t), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	// Two engines in one test (a restart) start in the same second; their
	// call ids must still differ, as they would across real restarts.
	e.boot += strconv.Itoa(int(bootSeq.Add(1)))
	ctx, cancel := context.WithCancel(context.Background())
	// As cmd/transferd does, before any call is adopted or arrives. Left
	// to Run, the check waits for the fake's lock, which a test raising
	// more events than the stream holds keeps while it blocks on the full
	// stream that Run has not started reading (engine fuzz: deadlock).
	e.CheckAsterisk(ctx)
	if adopt {
		if _, err := e.Adopt(ctx); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, f.events)
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("engine did not stop")
		}
	}, e
}

var bootSeq atomic.Int32

// talking sets up "101 calls 102 and 102 answers" and returns the caller's
// and the callee's channel ids.
func talking(t *testing.T, f *fakeAsterisk) (caller, callee string) {
	t.Helper()
	f.phoneCalls("A", "101", "102")
	f.eventually("102 dialled", func() bool {
		return len(f.channels) == 2 && f.channels[f.createdChannelLocked("PJSIP/102")] != nil && f.channels[f.createdChannelLocked("PJSIP/102")].state == "Ringing"
	})
	callee = f.createdChannel("PJSIP/102")
	f.answers(callee)
	f.eventually("caller and callee bridged", func() bool { return bridgedLocked(f, "A", callee) })
	return "A", callee
}

func (f *fakeAsterisk) createdChannelLocked(endpoint string) string {
	f.mu.Unlock()
	defer f.mu.Lock()
	return f.createdChannel(endpoint)
}

// bridgedLocked reports whether exactly ids share a bridge.
func bridgedLocked(f *fakeAsterisk, ids ...string) bool {
	slices.Sort(ids)
	for _, members := range f.bridges {
		got := keys(members)
		if slices.Equal(got, ids) {
			return true
		}
	}
	return false
}

// ringingLocked reports whether a channel to endpoint has been dialled.
func (f *fakeAsterisk) ringingLocked(endpoint string) bool {
	for _, ch := range f.channels {
		if ch.endpoint == endpoint && ch.state == "Ringing" {
			return true
		}
	}
	return false
}

func noneLeft(f *fakeAsterisk) bool { return len(f.bridges) == 0 && len(f.channels) == 0 }

func (f *fakeAsterisk) snapshotLocked() string {
	f.mu.Unlock()
	defer f.mu.Lock()
	return f.snapshot()
}

func TestGivenACallWhenCalleeAnswersThenBothTalkUntilEitherHangsUp(t *testing.T) {
	for _, who := range []string{"caller", "callee"} {
		t.Run(who+" hangs up", func(t *testing.T) {
			f := startEngine(t, Config{})
			caller, callee := talking(t, f)
			f.mu.Lock()
			if f.channels[caller].state != "Up" {
				t.Errorf("caller not answered after callee answered")
			}
			f.mu.Unlock()
			if who == "caller" {
				f.hangsUp(caller)
			} else {
				f.hangsUp(callee)
			}
			f.eventually("everything removed", func() bool { return noneLeft(f) })
		})
	}
}

func TestGivenACallWhileCalleeRingsThenCallerHearsRingback(t *testing.T) {
	f := startEngine(t, Config{})
	f.phoneCalls("A", "101", "102")
	f.eventually("ringback to caller and 102 dialled", func() bool {
		return slices.Contains(f.calls, "ring A") && f.channels[f.createdChannelLocked("PJSIP/102")] != nil
	})
	// The callee rings in the call's bridge, alone (not in Asterisk's
	// shared dial bridge: see onLegInStasis).
	f.eventually("102 rings alone in the call's bridge", func() bool {
		k := f.createdChannelLocked("PJSIP/102")
		for _, members := range f.bridges {
			if members[k] {
				return len(members) == 1 && f.channels[k].state == "Ringing"
			}
		}
		return false
	})
}

func TestGivenCallerHangsUpWhileCalleeRingsThenCalleeStopsRinging(t *testing.T) {
	f := startEngine(t, Config{})
	f.phoneCalls("A", "101", "102")
	f.eventually("102 dialled", func() bool { return f.ringingLocked("PJSIP/102") })
	callee := f.createdChannel("PJSIP/102")
	f.hangsUp("A")
	f.eventually("callee hung up and bridge gone", func() bool { return f.hungUp[callee] != "" && noneLeft(f) })
}

func TestGivenAnUnansweredCallThenTheOutcomeIsWhatAPBXUserExpects(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		dialled    string
		status     string
		cause      int
		wantHangup string // the caller's hangup reason, or ""
		wantVM     string // the voicemail the caller is sent to, or ""
	}{
		{name: "busy", dialled: "102", status: "BUSY", cause: 17, wantHangup: "busy"},
		{name: "no answer goes to voicemail", dialled: "102", status: "NOANSWER", cause: 19, wantVM: "transferd-voicemail,102"},
		{name: "unregistered phone goes to voicemail", dialled: "102", status: "CHANUNAVAIL", cause: 20, wantVM: "transferd-voicemail,102"},
		{name: "no answer with hangup configured", cfg: Config{NoAnswer: NoAnswerHangup}, dialled: "102", status: "NOANSWER", cause: 19, wantHangup: "no_answer"},
		{name: "no such endpoint", dialled: "199", wantHangup: "unallocated"},
		{name: "phone not registered goes to voicemail", dialled: "105", wantVM: "transferd-voicemail,105"},
		{name: "not an extension", dialled: "0900123456", wantHangup: "unallocated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startEngine(t, tt.cfg)
			f.phoneCalls("A", "101", tt.dialled)
			if tt.status != "" {
				f.eventually("callee dialled", func() bool { return f.ringingLocked("PJSIP/" + tt.dialled) })
				f.dialFails(f.createdChannel("PJSIP/"+tt.dialled), tt.status, tt.cause)
			}
			f.eventually("caller handled", func() bool { return f.hungUp["A"] != "" || f.continued["A"] != "" })
			f.eventually("bridge destroyed", func() bool { return len(f.bridges) == 0 })
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.hungUp["A"] != tt.wantHangup || f.continued["A"] != tt.wantVM {
				t.Errorf("caller hung up %q, sent to %q; want %q, %q", f.hungUp["A"], f.continued["A"], tt.wantHangup, tt.wantVM)
			}
		})
	}
}

// A call whose wait for a transferd the dialplan bounded (Stasis argument
// bounded-wait, TIMEOUT(absolute) set) has that timeout cleared as it is
// taken, before anything else; other calls cost no such request.
func TestBoundedWaitTimeoutClearedWhenTheCallIsTaken(t *testing.T) {
	f := newFakeAsterisk(t)
	stop, _ := runEngine(t, f, Config{}, nil, false)
	defer stop()
	f.phoneCalls("A", "101", "102", boundedWaitArg)
	f.phoneCalls("B", "103", "101")
	f.eventually("both ring their callee", func() bool {
		return f.ringingLocked("PJSIP/102") && f.ringingLocked("PJSIP/101")
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vars["A"]["TIMEOUT(absolute)"] != "0" {
		t.Errorf("A's wait timeout not cleared\n%s", f.snapshot())
	}
	if _, set := f.vars["B"]["TIMEOUT(absolute)"]; set {
		t.Errorf("B had no bounded wait, yet its timeout was set\n%s", f.snapshot())
	}
	first := slices.IndexFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "set-var A ") })
	if first < 0 || !strings.Contains(f.calls[first], "TIMEOUT(absolute)") {
		t.Errorf("clearing the timeout was not the first thing done to A\n%s", f.snapshot())
	}
}
