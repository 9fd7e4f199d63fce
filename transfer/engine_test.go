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

func TestGivenTalkingWhenCalleeBlindTransfersThenCallerHearsRingbackThenTalksToTarget(t *testing.T) {
	f := startEngine(t, Config{})
	caller, callee := talking(t, f)
	f.refers(callee, caller, "103")
	f.eventually("target dialled, transferer told and gone, caller hears ringback", func() bool {
		target := f.createdChannelLocked("PJSIP/103")
		return target != "" && f.channels[target] != nil && f.channels[target].state == "Ringing" &&
			slices.Equal(f.progress[callee], []string{progressAnswered}) &&
			f.hungUp[callee] != "" && f.ringing[caller]
	})
	target := f.createdChannel("PJSIP/103")
	f.answers(target)
	f.eventually("caller and target talk, ringback stopped", func() bool {
		return bridgedLocked(f, caller, target) && !f.ringing[caller]
	})
	f.hangsUp(target)
	f.eventually("everything removed", func() bool { return noneLeft(f) })
}

// Asterisk 22.10.1 crashes on a progress report that reaches a phone's
// channel before it finished taking the phone's REFER in (awaitReferHandled).
func TestGivenAsteriskStillTakingAREFERInThenItsProgressWaits(t *testing.T) {
	f := startEngine(t, Config{})
	caller, callee := talking(t, f)
	taken := f.takesReferIn(callee)
	f.refers(callee, caller, "103")
	f.eventually("target dialled", func() bool { return f.createdChannelLocked("PJSIP/103") != "" })
	time.Sleep(50 * time.Millisecond) // (a report would come now)
	f.mu.Lock()
	told := len(f.progress[callee])
	f.mu.Unlock()
	if told != 0 {
		t.Fatalf("transferer told %d times while Asterisk was still taking its REFER in, want 0\n%s", told, f.snapshot())
	}
	taken()
	f.eventually("transferer told and gone, caller hears ringback", func() bool {
		return slices.Equal(f.progress[callee], []string{progressAnswered}) && f.hungUp[callee] != "" && f.ringing[caller]
	})
	target := f.createdChannel("PJSIP/103")
	f.answers(target)
	f.eventually("caller and target talk", func() bool { return bridgedLocked(f, caller, target) })
	f.hangsUp(target)
	f.eventually("everything removed", func() bool { return noneLeft(f) })
}

// Asterisk stops the music on hold when the holding phone's channel leaves
// the bridge, but not always (load harness, about once in 3,700 transfers);
// the fake never does, so only transferd can stop it here.
func TestGivenAHeldCallerWhenBlindTransferredThenTheHoldMusicStops(t *testing.T) {
	f := startEngine(t, Config{})
	caller, callee := talking(t, f)
	f.holds(callee)
	f.mu.Lock()
	f.music[caller] = true // Asterisk's hold music for the held caller
	f.mu.Unlock()
	f.eventually("hold noted", func() bool { return slices.Contains(f.calls, "set-var "+callee+" TRANSFERD_HOLD 1") })
	f.refers(callee, caller, "103")
	f.eventually("caller hears ringback, not music", func() bool {
		return f.ringing[caller] && !f.music[caller] && f.hungUp[callee] != ""
	})
	target := f.createdChannel("PJSIP/103")
	f.answers(target)
	f.eventually("caller and target talk", func() bool { return bridgedLocked(f, caller, target) && !f.music[caller] })
	f.hangsUp(target)
	f.eventually("everything removed", func() bool { return noneLeft(f) })
}

func TestGivenTalkingWhenCallerBlindTransfersThenCalleeTalksToTarget(t *testing.T) {
	f := startEngine(t, Config{})
	caller, callee := talking(t, f)
	f.refers(caller, callee, "103")
	f.eventually("target dialled", func() bool { return f.ringingLocked("PJSIP/103") })
	target := f.createdChannel("PJSIP/103")
	f.answers(target)
	f.eventually("callee and target talk", func() bool { return bridgedLocked(f, callee, target) && f.hungUp[caller] != "" })
	f.hangsUp(callee)
	f.eventually("everything removed", func() bool { return noneLeft(f) })
}

func TestGivenABlindTransferThatCannotGoThenTransfererIsToldAndNobodyIsDropped(t *testing.T) {
	tests := []struct {
		name         string
		destination  string
		wantProgress string
	}{
		{name: "refused by policy", destination: "0900123456", wantProgress: progressDeclined},
		{name: "unknown extension", destination: "199", wantProgress: progressUnavailable},
		{name: "empty destination", destination: "", wantProgress: progressDeclined},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startEngine(t, Config{})
			caller, callee := talking(t, f)
			f.refers(callee, caller, tt.destination)
			f.eventually("transferer told", func() bool { return len(f.progress[callee]) > 0 })
			f.mu.Lock()
			if !slices.Equal(f.progress[callee], []string{tt.wantProgress}) {
				t.Errorf("transferer told %v, want [%s]", f.progress[callee], tt.wantProgress)
			}
			if len(f.hungUp) != 0 || !bridgedLocked(f, caller, callee) {
				t.Errorf("a party was dropped: hungUp=%v bridges=%v", f.hungUp, f.bridges)
			}
			f.mu.Unlock()
			// The phone resumes the call; a second, good transfer still works.
			f.refers(callee, caller, "103")
			f.eventually("second transfer dials 103", func() bool { return f.createdChannelLocked("PJSIP/103") != "" })
			f.hangsUp(caller)
			f.eventually("everything removed", func() bool { return noneLeft(f) })
		})
	}
}

func TestGivenABlindTransferWhenTargetDoesNotAnswerThenConfiguredFallback(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		status     string
		cause      int
		wantVM     string // where the transferee ends up
		wantRecall bool
	}{
		{name: "busy target's voicemail", status: "BUSY", cause: 17, wantVM: "transferd-voicemail,103"},
		{name: "unanswered target's voicemail", status: "NOANSWER", cause: 19, wantVM: "transferd-voicemail,103"},
		{name: "recall the transferer", cfg: Config{TransferNoAnswer: NoAnswerRecall}, status: "NOANSWER", cause: 19, wantRecall: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startEngine(t, tt.cfg)
			caller, callee := talking(t, f)
			f.refers(callee, caller, "103")
			f.eventually("target dialled", func() bool { return f.ringingLocked("PJSIP/103") })
			f.dialFails(f.createdChannel("PJSIP/103"), tt.status, tt.cause)
			if tt.wantRecall {
				// 102 transferred; 102's phone rings again for the caller.
				var recall string
				f.eventually("transferer rung back", func() bool {
					for id, ch := range f.channels {
						if id != caller && id != callee && ch.endpoint == "PJSIP/102" && ch.state == "Ringing" {
							recall = id
						}
					}
					return recall != ""
				})
				f.answers(recall)
				f.eventually("caller talks to the transferer again", func() bool { return bridgedLocked(f, caller, recall) })
				f.hangsUp(caller)
				f.eventually("everything removed", func() bool { return noneLeft(f) })
				return
			}
			f.eventually("caller sent to voicemail", func() bool { return f.continued[caller] == tt.wantVM && len(f.bridges) == 0 })
		})
	}
}

func TestGivenABlindTransferWhenCallerHangsUpWhileTargetRingsThenTargetStopsRinging(t *testing.T) {
	f := startEngine(t, Config{})
	caller, callee := talking(t, f)
	f.refers(callee, caller, "103")
	f.eventually("target dialled", func() bool { return f.ringingLocked("PJSIP/103") })
	target := f.createdChannel("PJSIP/103")
	f.hangsUp(caller)
	f.eventually("target hung up and nothing left", func() bool { return f.hungUp[target] != "" && noneLeft(f) })
}

func TestGivenProgressEchoesThenNoSecondTransferStarts(t *testing.T) {
	f := startEngine(t, Config{})
	caller, callee := talking(t, f)
	f.refers(callee, caller, "103")
	target := ""
	f.eventually("target dialled", func() bool { return f.ringingLocked("PJSIP/103") })
	target = f.createdChannel("PJSIP/103")
	f.answers(target)
	f.eventually("caller and target talk", func() bool { return bridgedLocked(f, caller, target) })
	f.mu.Lock()
	defer f.mu.Unlock()
	creates := 0
	for _, c := range f.calls {
		if len(c) > 6 && c[:6] == "create" && c[:13] != "create-bridge" {
			creates++
		}
	}
	if creates != 2 { // the callee and the target, nothing more
		t.Errorf("created %d channels, want 2:\n%s", creates, f.snapshotLocked())
	}
}

func (f *fakeAsterisk) snapshotLocked() string {
	f.mu.Unlock()
	defer f.mu.Lock()
	return f.snapshot()
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

// A check cut short because the engine stops decides nothing (it used to
// log "core chosen" for a version it never read).
func TestCheckAsteriskWhileStoppingDecidesNothing(t *testing.T) {
	e, err := New(Config{}, newFakeAsterisk(t), Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d := e.CheckAsterisk(ctx); d.Mode != "" {
		t.Errorf("decided %q while stopping", d.Mode)
	}
	if d := e.Handling(); d.Mode != "" {
		t.Errorf("handling %q kept while stopping", d.Mode)
	}
	if d := e.CheckAsterisk(context.Background()); d.Mode != HandlingARIOnly {
		t.Errorf("then decided %q, want ari-only for the fake's 22.11", d.Mode)
	}
}
