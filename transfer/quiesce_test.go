package transfer

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// slowAsterisk makes CreateBridge and SetVariable wait until released: a
// call owner busy with a request.
type slowAsterisk struct {
	*fakeAsterisk
	bridges, variables chan struct{}
}

func (s *slowAsterisk) CreateBridge(ctx context.Context, id, name string, hearDigits bool) error {
	<-s.bridges
	return s.fakeAsterisk.CreateBridge(ctx, id, name, hearDigits)
}

func (s *slowAsterisk) SetVariable(ctx context.Context, id, name, value string) error {
	<-s.variables
	return s.fakeAsterisk.SetVariable(ctx, id, name, value)
}

// quiesceEngine runs an engine on a slowAsterisk whose requests pass until
// the test closes them off (bridges, variables: open at first).
func quiesceEngine(t *testing.T) (*fakeAsterisk, *slowAsterisk, *Engine) {
	t.Helper()
	f := newFakeAsterisk(t)
	slow := &slowAsterisk{fakeAsterisk: f, bridges: make(chan struct{}), variables: make(chan struct{})}
	close(slow.bridges)
	close(slow.variables)
	e, err := New(Config{}, slow, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, f.events)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("engine did not stop")
		}
	})
	return f, slow, e
}

// never checks, under f's lock, that cond has not come true 30 ms on: long
// enough for an owner that ignored the quiesce to have acted.
func (f *fakeAsterisk) never(what string, cond func() bool) {
	f.t.Helper()
	time.Sleep(30 * time.Millisecond)
	f.mu.Lock()
	happened := cond()
	f.mu.Unlock()
	if happened {
		f.t.Errorf("%s:\n%s", what, f.snapshot())
	}
}

func eventuallyQuiet(t *testing.T, e *Engine) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !e.Quiet() {
		if time.Now().After(deadline) {
			t.Fatal("the quiesced engine never became quiet")
		}
		time.Sleep(time.Millisecond)
	}
}

// A step under way when the connection is to be handed over is finished
// (a step cut in half goes on with errors); a new call is left for the
// successor, which finds its caller waiting in Stasis.
func TestQuiescedEngineFinishesItsStepsAndLeavesNewCalls(t *testing.T) {
	f, slow, e := quiesceEngine(t)
	slow.bridges = make(chan struct{})
	f.phoneCalls("A", "101", "102")
	f.eventually("the call's owner is in its first step", func() bool { return e.stepping.Load() == 1 })
	e.Quiesce()
	if e.Quiet() {
		t.Fatal("quiet while a call's owner is in a step")
	}
	close(slow.bridges)
	f.eventually("the step finished: 102 rings", func() bool { return f.ringingLocked("PJSIP/102") })
	eventuallyQuiet(t, e)

	f.phoneCalls("B", "103", "104")
	f.eventually("the new call is dispatched", func() bool { return e.ActiveCalls() == 2 })
	if !e.Quiet() {
		t.Fatal("a new call (its caller waits in Stasis for a successor) keeps the engine from being quiet")
	}
	// (An owner that ignored the quiesce would dial 104 meanwhile.)
	f.never("a call that arrived after Quiesce is set up", func() bool {
		return f.ringingLocked("PJSIP/104") || len(f.bridges) != 1
	})
}

// A REFER is still handled once quiesced: Asterisk shows no trace of it,
// so a successor could not, and the phone would wait for its NOTIFY. What
// follows from it (the target answering) is left for the successor.
func TestQuiescedEngineStillHandlesAREFER(t *testing.T) {
	f, _, e := quiesceEngine(t)
	caller, callee := talking(t, f)
	e.Quiesce()
	eventuallyQuiet(t, e)
	f.refers(callee, caller, "103")
	f.eventually("the REFER is handled: the target rings, the transferer is told", func() bool {
		return f.ringingLocked("PJSIP/103") && slices.Equal(f.progress[callee], []string{progressAnswered})
	})
	eventuallyQuiet(t, e)
	target := f.createdChannel("PJSIP/103")
	f.answers(target)
	f.never("the target's answer is acted on after Quiesce", func() bool {
		return bridgedLocked(f, caller, target) || !f.ringing[caller]
	})
}

// A REFER still queued when the wait for quiet gives up is refused, so the
// phone shows the transfer failed instead of waiting for a NOTIFY nobody
// sends; the owner, once free, does not start it.
func TestRefuseQueuedTransfersTellsThePhones(t *testing.T) {
	f, slow, e := quiesceEngine(t)
	caller, callee := talking(t, f)
	slow.variables = make(chan struct{})
	f.holds(callee) // the owner remembers the hold: stuck on SetVariable
	f.eventually("the owner is in the hold's step", func() bool { return e.stepping.Load() == 1 })
	f.refers(callee, caller, "103")
	e.Quiesce()
	f.eventually("the REFER is queued", func() bool { return !e.Quiet() && e.queued(isREFER) })
	if n := e.RefuseQueuedTransfers(context.Background()); n != 1 {
		t.Fatalf("refused %d REFERs, want 1", n)
	}
	f.mu.Lock()
	got := slices.Clone(f.progress[callee])
	f.mu.Unlock()
	if !slices.Equal(got, []string{progressDeclined}) {
		t.Fatalf("transferer told %v, want [%s]", got, progressDeclined)
	}
	close(slow.variables)
	eventuallyQuiet(t, e)
	f.never("the refused REFER is carried out", func() bool {
		return f.createdChannelLocked("PJSIP/103") != "" || !bridgedLocked(f, caller, callee)
	})
}

// An attended transfer whose final NOTIFY waits for the consultation leg
// to be destroyed (destroyWait) is finished before the hand-over: a
// successor would not know the phone is owed it, and Asterisk answers the
// phone 503 once its leg is hung up.
func TestQuiescedEngineFinishesAnAttendedTransfersNotify(t *testing.T) {
	f, _, e := quiesceEngine(t)
	x1, b2, k := consulting(t, f, true)
	f.destroysSlowly(b2)
	f.attendedRefers(x1, "A", b2, k)
	f.eventually("A and 103 talk, 102's consultation leg hung up, its NOTIFY held back", func() bool {
		return bridgedLocked(f, "A", k) && f.hungUp[b2] != "" && len(f.progress[x1]) == 0
	})
	e.Quiesce()
	time.Sleep(20 * time.Millisecond)
	if e.Quiet() {
		t.Fatal("quiet while a phone is owed its final NOTIFY")
	}
	f.destroyed(b2)
	f.eventually("the transferer is told, then its leg leaves", func() bool {
		return slices.Equal(f.progress[x1], []string{progressAnswered})
	})
	eventuallyQuiet(t, e)
}
