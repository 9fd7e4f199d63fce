package transfer

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
)

// steppedEngine is an engine whose events the test hands over itself
// (Handle), instead of Run reading them from the fake's stream. The test
// is then the dispatcher, so it knows when every event Asterisk raised has
// reached a mailbox, and settle can wait for the moment the engine has
// nothing left to do: each phone action of the fuzz is followed by that
// quiet point, where the invariants are checked.
//
// With Run reading the stream, an event taken off it but not yet routed
// is visible nowhere (not in the stream, not in a mailbox, no owner in a
// step), and a check there would look at a half-handled state.
type steppedEngine struct {
	e *Engine
	f *fakeAsterisk
}

// startSteppedEngine starts an engine on ast (f, or a wrapper of f that
// changes its behaviour) whose events come from f. Its owners stop when
// the test ends.
func startSteppedEngine(t *testing.T, f *fakeAsterisk, ast Asterisk, cfg Config, log *zap.Logger) *steppedEngine {
	t.Helper()
	e, err := New(cfg, ast, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.boot += strconv.Itoa(int(bootSeq.Add(1)))
	e.CheckAsterisk(context.Background())
	t.Cleanup(func() {
		// As Run does when it returns: owners leave their calls as they
		// are.
		e.cancel()
		e.wg.Wait()
	})
	return &steppedEngine{e: e, f: f}
}

// deliver hands every event the fake has raised so far to the engine, in
// order.
func (s *steppedEngine) deliver() {
	for {
		select {
		case ev := <-s.f.events:
			s.e.Handle(ev)
		default:
			return
		}
	}
}

// idleLocked reports whether the engine looks idle: no event waits in the
// stream, no input in a mailbox, no owner is in a step. The caller holds
// the fake's lock, so no owner changes what Asterisk holds meanwhile: an
// owner that starts a step now blocks on its first request.
func (s *steppedEngine) idleLocked() bool {
	// (An owner raises stepping before it takes its batch: an input is
	// queued or counted. stepping is read again after the mailboxes for
	// an owner that took its batch in between.)
	return len(s.f.events) == 0 && s.e.stepping.Load() == 0 &&
		!s.e.queued(func(input) bool { return true }) && s.e.stepping.Load() == 0
}

// errNeverIdle: an owner never finished its step (deadlocked or looping).
var errNeverIdle = errors.New("the engine did not become idle within 5s")

// settle delivers events until the engine is idle, then runs check with
// the fake's lock held (it reads the fake's fields directly) and returns
// its error.
//
// Idle must be seen twice in a row, with the owners given the processor
// in between and no request reaching Asterisk meanwhile: the reads of
// idleLocked are not one atomic snapshot, and an owner could take an
// input between two of them and, in a step that asks Asterisk nothing,
// hand another call an input the scan had passed already. The second look
// sees that input, or the requests it led to.
//
// The wait polls a condition that becomes true by itself, not a sleep
// whose length is a guess: owners take microseconds per step, so it
// yields to them first and only then sleeps briefly. The 5s bound only
// turns an engine that never settles into a failure instead of a hang.
func (s *steppedEngine) settle(check func() error) error {
	deadline := time.Now().Add(5 * time.Second)
	idleAt := -1 // the number of requests when the engine was last seen idle
	for spins := 0; ; spins++ {
		s.deliver()
		s.f.mu.Lock()
		switch {
		case !s.idleLocked():
			idleAt = -1
		case idleAt == len(s.f.calls):
			err := check()
			s.f.mu.Unlock()
			return err
		default:
			idleAt = len(s.f.calls)
		}
		s.f.mu.Unlock()
		if spins < 50 {
			runtime.Gosched()
			continue
		}
		if time.Now().After(deadline) {
			return errNeverIdle
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// timePasses does at once what a pause longer than every wait the
// engine schedules would: each call's voicemail entry times out (its digit
// timer fires) and each departing transferer's phone that never hung up
// is hung up (byeWait). The fuzz sets the real timers long enough never
// to fire during a run, so when time passes is part of the script, and a
// script replays the same way however fast the machine runs it.
//
// The inputs go where the timers would put them. A digit timer's input
// carries its sequence number; every number the call may have reached is
// sent, and the entry ignores all but its current timer's (vmentry.go).
func (s *steppedEngine) timePasses(maxTimers int) {
	s.deliver() // (time passes after what happened before)
	s.f.mu.Lock()
	var departing []string
	for _, id := range keys(s.f.channels) {
		if s.f.vars[id]["TRANSFERD_CALL"] == departedCall {
			departing = append(departing, id)
		}
	}
	s.f.mu.Unlock()
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	for c := range s.e.calls {
		for seq := 1; seq <= maxTimers; seq++ {
			c.box.put(digitTimerFired{seq: seq})
		}
	}
	for _, id := range departing {
		if c := s.e.owners[id]; c != nil {
			c.box.put(departureDue{channelID: id})
		}
	}
}
