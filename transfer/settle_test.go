package transfer

import (
	"context"
	"errors"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// steppedEngine is an engine whose events the test hands over itself
// (Handle), instead of Run reading them from the fake's stream: the test
// is the dispatcher, so it knows when an event has reached a mailbox and
// settle can wait until the engine has nothing left to do. Each phone
// action of the fuzz is followed by that quiet point, where the
// invariants are checked. (With Run reading the stream, an event taken
// off it but not yet routed is visible nowhere: not in the stream, not in
// a mailbox, no owner in a step.)
//
// Events are handed over one at a time, each handled to its end before
// the next: owners then never run side by side (but where one asks
// another, and waits), so the engine takes the same path through a
// script on every run, however the scheduler runs its goroutines. Steps
// taken at once still come before transferd has handled any of their
// events, which it then handles in the order Asterisk raised them.
// (Handed over together, two calls' owners raced: a failure a script
// showed under -race once in three runs, never without.) What it gives
// up: an event never arrives while two calls' owners pass a hand-over
// between them, which completes within the event that started it; such
// windows are held open with a gate in targeted tests
// (native_crossing_test.go).
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

// ownersIdleLocked reports whether no owner is in a step and no input
// waits in a mailbox. The caller holds the fake's lock, so no owner
// changes what Asterisk holds meanwhile: an owner that starts a step now
// blocks on its first request.
func (s *steppedEngine) ownersIdleLocked() bool {
	// (An owner raises stepping before it takes its batch: an input is
	// queued or counted. stepping is read again after the mailboxes for
	// an owner that took its batch in between.)
	return s.e.stepping.Load() == 0 && !s.e.queued(func(input) bool { return true }) && s.e.stepping.Load() == 0
}

// errNeverIdle: an owner never finished its step (deadlocked or looping).
var errNeverIdle = errors.New("the engine did not become idle within 5s")

// settle hands the engine the events Asterisk raised, one at a time, each
// once the owners are idle, until none is left; then it runs check with
// the fake's lock held (check reads the fake's fields directly) and
// returns its error.
//
// Idle must be seen twice in a row, with the owners given the processor
// in between and no request reaching Asterisk meanwhile: the reads of
// ownersIdleLocked are not one atomic snapshot, and an owner could take
// an input between two of them and, in a step that asks Asterisk nothing,
// hand another call an input the scan had passed already. The second look
// sees that input, or the requests it led to.
//
// The wait polls a condition that becomes true by itself, not a sleep
// whose length is a guess: owners take microseconds per step, so it
// yields to them first and only then sleeps briefly. The 5s bound only
// turns an engine that never settles into a failure instead of a hang.
func (s *steppedEngine) settle(check func() error) error {
	deadline := time.Now().Add(5 * time.Second)
	idleAt := -1 // the number of requests when the owners were last seen idle
	for spins := 0; ; spins++ {
		s.f.mu.Lock()
		switch {
		case !s.ownersIdleLocked():
			idleAt = -1
		case idleAt != len(s.f.calls):
			idleAt = len(s.f.calls)
		case len(s.f.events) == 0:
			err := check()
			s.f.mu.Unlock()
			return err
		default:
			ev := <-s.f.events // (only the test reads the stream)
			s.f.mu.Unlock()
			s.e.Handle(ev)
			idleAt, spins, deadline = -1, 0, time.Now().Add(5*time.Second)
			continue
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

// timePasses does at once what a pause longer than every wait the engine
// schedules would: first the engine handles what happened before, then
// each call's voicemail entry times out (its digit timer fires) and each
// departing transferer's phone that never hung up is hung up (byeWait).
// The fuzz sets the real timers long enough never to fire during a run,
// so time passes only when the script says so, and a script replays the
// same way however fast the machine runs it.
//
// The inputs go where the timers would put them, one call at a time (in
// the order of their ids, settling in between: owners never run side by
// side). A digit timer's input carries its sequence number; every number
// the call may have reached is sent, and the entry ignores all but its
// current timer's (vmentry.go).
func (s *steppedEngine) timePasses(maxTimers int) error {
	noCheck := func() error { return nil }
	if err := s.settle(noCheck); err != nil {
		return err
	}
	s.f.mu.Lock()
	var departing []string
	for _, id := range keys(s.f.channels) {
		if s.f.vars[id]["TRANSFERD_CALL"] == departedCall {
			departing = append(departing, id)
		}
	}
	s.f.mu.Unlock()
	timeouts := map[*call][]input{}
	s.e.mu.Lock()
	for c := range s.e.calls {
		for seq := 1; seq <= maxTimers; seq++ {
			timeouts[c] = append(timeouts[c], digitTimerFired{seq: seq})
		}
	}
	for _, id := range departing {
		if c := s.e.owners[id]; c != nil {
			timeouts[c] = append(timeouts[c], departureDue{channelID: id})
		}
	}
	s.e.mu.Unlock()
	calls := slices.SortedFunc(maps.Keys(timeouts), func(a, b *call) int { return strings.Compare(a.id, b.id) })
	for _, c := range calls {
		for _, in := range timeouts[c] {
			c.box.put(in)
		}
		if err := s.settle(noCheck); err != nil {
			return err
		}
	}
	return nil
}
