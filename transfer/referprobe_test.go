package transfer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transferd/transferd/ari"
)

// killedAfterReadingARefer runs a first transferd until a call talks (set
// up by setUp), stops it, and has a phone send a REFER (refer) whose
// ChannelTransfer the stopped transferd read and never recorded: Asterisk
// keeps the REFER pending, and the event is gone. Then a successor adopts
// the calls.
func killedAfterReadingARefer(t *testing.T, f *fakeAsterisk, setUp func(), refer func()) {
	t.Helper()
	stop, _ := runEngine(t, f, Config{}, nil, false)
	setUp()
	stop()
	refer()
	drain(f) // (read by the dead transferd: lost)
	stop2, _ := runEngine(t, f, Config{}, nil, true)
	t.Cleanup(stop2)
}

// transferProgressPosts lists the states posted to channel id, in order.
func (f *fakeAsterisk) transferProgressPosts(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var states []string
	for _, c := range f.calls {
		if s, ok := strings.CutPrefix(c, "transfer-progress "+id+" "); ok {
			states = append(states, s)
		}
	}
	return states
}

// Given a blind REFER the previous transferd read and never recorded (it
// was killed in between), when the successor adopts the call, then its
// probe finds the REFER and carries it out: the transferer's phone is told
// 200 (after a 100 Trying), the caller hears ringback while 103 rings, and
// 103's answer connects them.
func TestGivenALostBlindReferWhenTheSuccessorAdoptsThenItIsCarriedOut(t *testing.T) {
	f := newFakeAsterisk(t)
	var caller, x1 string
	killedAfterReadingARefer(t, f, func() { caller, x1 = talking(t, f) }, func() { f.refers(x1, caller, "103") })
	f.eventually("103 rings, the caller hears ringback, the transferer is told and leaves", func() bool {
		return f.ringingLocked("PJSIP/103") && f.ringing[caller] &&
			slices.Equal(f.progress[x1], []string{progressTrying, progressAnswered}) && f.hungUp[x1] != ""
	})
	k := f.createdChannel("PJSIP/103")
	f.answers(k)
	f.eventually("caller and 103 talk", func() bool { return bridgedLocked(f, caller, k) && !f.ringing[caller] })
	f.hangsUp(k)
	f.eventually("everything gone", func() bool { return noneLeft(f) })
	if got := f.transferProgressPosts(caller); !slices.Equal(got, []string{progressTrying}) {
		t.Errorf("reports posted to the caller's channel: %v, want one probe", got)
	}
}

// The same for an attended transfer: the REFER with Replaces sent on the
// transferer's held call, lost, is found and completed once both calls
// are adopted.
func TestGivenALostAttendedReferWhenTheSuccessorAdoptsThenItIsCarriedOut(t *testing.T) {
	f := newFakeAsterisk(t)
	var x1, b2, k string
	killedAfterReadingARefer(t, f, func() { x1, b2, k = consulting(t, f, true) }, func() { f.attendedRefers(x1, "A", b2, k) })
	f.eventually("A and 103 talk, the transferer's legs are gone, it is told 200", func() bool {
		return bridgedLocked(f, "A", k) && f.channels[x1] == nil && f.channels[b2] == nil &&
			slices.Equal(f.progress[x1], []string{progressTrying, progressAnswered})
	})
	f.hangsUp(k)
	f.eventually("everything gone", func() bool { return noneLeft(f) })
}

// Given no REFER pending, the probes change nothing: each party of the
// adopted call is probed once (Asterisk does nothing then), the call
// talks on, nothing is dialled.
func TestGivenNoLostReferWhenTheSuccessorAdoptsThenTheProbesChangeNothing(t *testing.T) {
	f := newFakeAsterisk(t)
	var caller, x1 string
	killedAfterReadingARefer(t, f, func() { caller, x1 = talking(t, f) }, func() {})
	f.eventually("both parties probed", func() bool {
		return len(f.progress[caller]) == 1 && len(f.progress[x1]) == 1
	})
	f.mu.Lock()
	for _, c := range f.calls {
		if strings.HasPrefix(c, "create ") && !strings.HasSuffix(c, " PJSIP/102") {
			f.mu.Unlock()
			t.Fatalf("a channel was created: %s", c)
		}
	}
	talks := bridgedLocked(f, caller, x1)
	f.mu.Unlock()
	if !talks {
		t.Fatalf("the call does not talk after the probes\n%s", f.snapshot())
	}
	// A blind transfer afterwards is a fresh REFER as ever.
	f.refers(x1, caller, "103")
	f.eventually("103 rings", func() bool { return f.ringingLocked("PJSIP/103") })
	f.hangsUp(caller)
	f.eventually("everything gone", func() bool { return noneLeft(f) })
}

// Given a REFER on record on the callee's channel (the successor resumes
// it) and a lost REFER of the caller's phone, when the probe's echo
// arrives while the recorded transfer is under way, then the lost REFER
// is refused (603): the caller's phone is told it failed rather than left
// waiting, and the recorded transfer goes on.
func TestGivenALostReferWhileARecordedOneIsResumedThenTheLostOneIsRefused(t *testing.T) {
	f := newFakeAsterisk(t)
	var caller, x1 string
	killedAfterReadingARefer(t, f, func() { caller, x1 = talking(t, f) }, func() {
		f.refers(caller, x1, "104") // lost
		f.mu.Lock()
		f.referPending[x1] = true
		f.vars[x1][referVariable] = encodeRefer(transferRequested{transfererID: x1, transfereeID: caller, destination: "103"})
		f.mu.Unlock()
	})
	f.eventually("103 rings for the caller; the caller's REFER refused", func() bool {
		return f.ringingLocked("PJSIP/103") && slices.Equal(f.progress[caller], []string{progressTrying, progressDeclined})
	})
	k := f.createdChannel("PJSIP/103")
	f.answers(k)
	f.eventually("caller and 103 talk", func() bool { return bridgedLocked(f, caller, k) })
	f.mu.Lock()
	dialled104 := f.createdChannelLocked("PJSIP/104") != ""
	f.mu.Unlock()
	if dialled104 {
		t.Error("the refused REFER's target 104 was dialled")
	}
	f.hangsUp(k)
	f.eventually("everything gone", func() bool { return noneLeft(f) })
}

// Given a fresh REFER that crosses the probe (the phone sends it as the
// successor adopts; Asterisk still takes it in when the probe comes), the
// probe's echo is of that REFER, already handled: 103 is dialled once and
// the phone told once.
func TestGivenAFreshReferCrossingTheProbeThenItIsCarriedOutOnce(t *testing.T) {
	f := newFakeAsterisk(t)
	stop, _ := runEngine(t, f, Config{}, nil, false)
	caller, x1 := talking(t, f)
	stop()
	drain(f)
	done := f.takesReferIn(x1) // the probe waits for the REFER to be taken in
	stop2, _ := runEngine(t, f, Config{}, nil, true)
	t.Cleanup(stop2)
	f.eventually("the probe of 102 waits for Asterisk", func() bool { return len(f.progress[caller]) == 1 })
	f.refers(x1, caller, "103")
	f.eventually("the REFER's target is dialled", func() bool { return f.createdChannelLocked("PJSIP/103") != "" })
	done()
	f.eventually("103 rings, 102 told 200 and gone", func() bool {
		return f.ringingLocked("PJSIP/103") && slices.Contains(f.progress[x1], progressAnswered) && f.channels[x1] == nil
	})
	k := f.createdChannel("PJSIP/103")
	f.answers(k)
	f.eventually("caller and 103 talk", func() bool { return bridgedLocked(f, caller, k) })
	f.mu.Lock()
	creates := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, "create ") && strings.HasSuffix(c, " PJSIP/103") {
			creates++
		}
	}
	progress := slices.Clone(f.progress[x1])
	f.mu.Unlock()
	// (The probe's channel_progress goes before or after the 200: both
	// waited for Asterisk to take the REFER in; after, it finds no REFER
	// pending and does nothing.)
	answered, probes := 0, 0
	for _, s := range progress {
		switch s {
		case progressAnswered:
			answered++
		case progressTrying:
			probes++
		}
	}
	if creates != 1 || answered != 1 || probes != 1 || len(progress) != 2 {
		t.Errorf("103 created %d times, 102's channel told %v; want once, and one 200 and the probe's 100", creates, progress)
	}
	f.hangsUp(k)
	f.eventually("everything gone", func() bool { return noneLeft(f) })
}

// TestTakeoverProbeCost measures what the probes cost a successor that
// adopts 100 talking calls, on a fake that serves one command at a time,
// 300 µs each (Asterisk serving REST over its WebSocket on one thread):
// how long the 200 probes take, and how long a REFER that arrives as the
// adoption ends waits for its target to be created, against one that
// arrives once the probes are done. It logs the numbers; it fails only if
// the REFER waits for the probes to finish.
func TestTakeoverProbeCost(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a measurement")
	}
	const calls = 100
	f := newFakeAsterisk(t)
	stop, _ := runEngine(t, f, Config{}, nil, false)
	for i := range calls {
		f.phoneCalls(fmt.Sprintf("A%d", i), "101", "102")
	}
	var callees []string
	f.eventually("every callee dialled", func() bool {
		callees = callees[:0]
		for _, c := range f.calls {
			if fields := strings.Fields(c); fields[0] == "dial" {
				callees = append(callees, fields[1])
			}
		}
		return len(callees) == calls
	})
	for _, id := range callees {
		f.answers(id)
	}
	f.eventually("every call talks", func() bool {
		talking := 0
		for _, members := range f.bridges {
			if len(members) == 2 {
				talking++
			}
		}
		return talking == calls
	})
	stop()
	drain(f)
	owner := map[string]string{} // callee → caller
	f.mu.Lock()
	for _, members := range f.bridges {
		ids := keys(members)
		if strings.HasPrefix(ids[0], "A") {
			owner[ids[1]] = ids[0]
		} else {
			owner[ids[0]] = ids[1]
		}
	}
	f.latency = 300 * time.Microsecond
	f.mu.Unlock()
	probes := func() int {
		n := 0
		for _, c := range f.calls {
			if strings.HasPrefix(c, "transfer-progress ") && strings.HasSuffix(c, " "+progressTrying) {
				n++
			}
		}
		return n
	}
	dialledWithin := func(callee, dest string) time.Duration {
		start := time.Now()
		f.refers(callee, owner[callee], dest)
		f.eventually(dest+" created", func() bool { return f.createdChannelLocked("PJSIP/"+dest) != "" })
		return time.Since(start)
	}
	begin := time.Now()
	stop2, _ := runEngine(t, f, Config{}, nil, true)
	defer stop2()
	adopted := time.Since(begin)
	during := dialledWithin(callees[0], "103")
	f.mu.Lock()
	probesBefore := probes()
	f.mu.Unlock()
	f.eventually("every party probed", func() bool { return probes() >= 2*calls-1 }) // (callees[0] may have left first)
	probed := time.Since(begin)
	after := dialledWithin(callees[1], "104")
	t.Logf("%d calls adopted in %s; their %d probes (and as many waits) done %s after the adoption began; "+
		"a REFER arriving as the adoption ended had its target created in %s (%d probes done by then), one after the probes in %s",
		calls, adopted.Round(time.Millisecond), 2*calls, probed.Round(time.Millisecond), during.Round(time.Millisecond), probesBefore,
		after.Round(time.Millisecond))
	if probesBefore >= 2*calls-1 && probed > 2*during {
		t.Errorf("the REFER waited for every probe")
	}
}

// Given a phone's REFER raised while the event stream was broken (its
// ChannelTransfer lost), when the stream comes back, then the call probes
// its phones and carries the REFER out: 103 rings, the transferer is told
// 200.
func TestGivenAReferLostWithTheConnectionWhenTheStreamIsBackThenItIsCarriedOut(t *testing.T) {
	f := newFakeAsterisk(t)
	stop, _ := runEngine(t, f, Config{}, nil, false)
	defer stop()
	caller, x1 := talking(t, f)
	f.events <- &ari.Disconnected{}
	f.mu.Lock() // the REFER, its event lost
	f.referPending[x1] = true
	f.pendingRefers[x1] = &ari.ChannelTransfer{
		ReferTo:    ari.ReferTo{RequestedDestination: ari.RequiredDestination{Destination: "103"}},
		ReferredBy: ari.ReferredBy{SourceChannel: ari.Channel{ID: x1}, ConnectedChannel: &ari.Channel{ID: caller}},
	}
	f.mu.Unlock()
	f.events <- &ari.Reconnected{}
	f.eventually("103 rings, the caller hears ringback, the transferer is told and leaves", func() bool {
		return f.ringingLocked("PJSIP/103") && f.ringing[caller] &&
			slices.Equal(f.progress[x1], []string{progressTrying, progressAnswered}) && f.hungUp[x1] != ""
	})
	k := f.createdChannel("PJSIP/103")
	f.answers(k)
	f.eventually("caller and 103 talk", func() bool { return bridgedLocked(f, caller, k) })
	f.hangsUp(k)
	f.eventually("everything gone", func() bool { return noneLeft(f) })
}

// Given a blind transfer under way when the stream breaks and comes back,
// nobody is probed: the call is in its transfer, and the transferer's
// REFER is its own.
func TestGivenATransferUnderWayWhenTheStreamIsBackThenNobodyIsProbed(t *testing.T) {
	f := newFakeAsterisk(t)
	stop, e := runEngine(t, f, Config{}, nil, false)
	defer stop()
	caller, x1 := talking(t, f)
	f.refers(x1, caller, "103")
	f.eventually("103 rings", func() bool { return f.ringingLocked("PJSIP/103") && f.ringing[caller] })
	f.events <- &ari.Disconnected{}
	f.events <- &ari.Reconnected{}
	f.eventually("reconciled", func() bool { return slices.Contains(f.calls, "snapshot") })
	// (The owner has handled what the reconcile gave it once it answers;
	// the answer below makes the call talk again, and then its parties
	// may be probed.)
	if _, err := e.Calls(context.Background()); err != nil {
		t.Fatal(err)
	}
	k := f.createdChannel("PJSIP/103")
	if got, x := f.transferProgressPosts(caller), f.transferProgressPosts(x1); len(got) != 0 || slices.Contains(x, progressTrying) {
		t.Errorf("probed during the transfer: the transferee's channel was sent %v, the transferer's %v", got, x)
	}
	f.answers(k)
	f.eventually("caller and 103 talk", func() bool { return bridgedLocked(f, caller, k) })
	f.hangsUp(k)
	f.eventually("everything gone", func() bool { return noneLeft(f) })
}
