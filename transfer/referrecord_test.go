package transfer

import (
	"slices"
	"strings"
	"testing"
)

// A REFER is recorded on the transferer's channel before anything of it is
// done, and its record is erased before the phone is told it failed.
func TestReferRecordWrittenFirstAndErasedBeforeAFailure(t *testing.T) {
	f := startEngine(t, Config{})
	caller, x1 := talking(t, f)
	f.refers(x1, caller, "103")
	f.eventually("103 rings, transferer told", func() bool {
		return f.ringingLocked("PJSIP/103") && slices.Contains(f.progress[x1], progressAnswered)
	})
	f.mu.Lock()
	calls := slices.Clone(f.calls)
	f.mu.Unlock()
	record := slices.IndexFunc(calls, func(s string) bool { return strings.HasPrefix(s, "set-var "+x1+" "+referVariable+" to=103") })
	create := slices.IndexFunc(calls, func(s string) bool { return strings.HasPrefix(s, "create ") && strings.HasSuffix(s, "PJSIP/103") })
	if record < 0 || create < 0 || record > create {
		t.Fatalf("the REFER must be recorded before its target is created:\n  %s", strings.Join(calls, "\n  "))
	}

	// A REFER to a number that does not exist: refused, record erased first.
	f2 := startEngine(t, Config{})
	caller2, y1 := talking(t, f2)
	f2.refers(y1, caller2, "999")
	f2.eventually("transferer told it failed", func() bool { return len(f2.progress[y1]) == 1 })
	f2.mu.Lock()
	calls = slices.Clone(f2.calls)
	left := f2.vars[y1][referVariable]
	f2.mu.Unlock()
	erase := slices.Index(calls, "set-var "+y1+" "+referVariable+" ")
	told := slices.IndexFunc(calls, func(s string) bool { return strings.HasPrefix(s, "transfer-progress "+y1) })
	if left != "" || erase < 0 || erase > told {
		t.Fatalf("a failed REFER's record must be erased before the phone is told (left %q):\n  %s", left, strings.Join(calls, "\n  "))
	}
}

// A replica died after a REFER was recorded and before it was settled
// (load harness, kills: the phone waited for a final NOTIFY forever). The
// successor carries it out again: a target the predecessor had created is
// hung up with the rest of the half-done step, a new one rings, and the
// transferer is told and leaves.
func TestAdoptionResumesARecordedBlindRefer(t *testing.T) {
	for _, targetCreated := range []bool{false, true} {
		name := "nothing done yet"
		if targetCreated {
			name = "target already created"
		}
		t.Run(name, func(t *testing.T) {
			f := newFakeAsterisk(t)
			stop, _ := runEngine(t, f, Config{}, nil, false)
			caller, x1 := talking(t, f)
			stop()
			f.mu.Lock()
			f.referPending[x1] = true
			f.vars[x1][referVariable] = encodeRefer(transferRequested{transfererID: x1, transfereeID: caller, destination: "103"})
			var stale string
			if targetCreated {
				stale = strings.TrimSuffix(x1, "callee2") + "target3"
				f.channels[stale] = &fakeChannel{id: stale, endpoint: "PJSIP/103", state: "Down"}
				f.vars[stale] = map[string]string{"TRANSFERD_CALL": f.vars[x1]["TRANSFERD_CALL"]}
			}
			f.mu.Unlock()
			drain(f)
			stop2, _ := runEngine(t, f, Config{}, nil, true)
			defer stop2()
			f.eventually("a new 103 leg rings, the transferer is told and leaves, the caller hears ringback", func() bool {
				return f.ringingLocked("PJSIP/103") && slices.Equal(f.progress[x1], []string{progressAnswered}) &&
					f.hungUp[x1] != "" && f.ringing[caller] && (stale == "" || f.channels[stale] == nil)
			})
			k := f.createdChannel("PJSIP/103")
			f.answers(k)
			f.eventually("caller and 103 talk", func() bool { return bridgedLocked(f, caller, k) })
			f.hangsUp(k)
			f.eventually("everything gone", func() bool { return noneLeft(f) })
		})
	}
}

// The same for an attended transfer: the REFER with Replaces recorded on
// the transferer's held call is carried out once both calls are adopted.
func TestAdoptionResumesARecordedAttendedRefer(t *testing.T) {
	f := newFakeAsterisk(t)
	stop, _ := runEngine(t, f, Config{}, nil, false)
	x1, b2, k := consulting(t, f, true)
	stop()
	f.mu.Lock()
	f.referPending[x1] = true
	f.vars[x1][referVariable] = encodeRefer(transferRequested{transfererID: x1, transfereeID: "A",
		replaces: "consult-call-id@phone", consultID: b2, targetID: k})
	f.mu.Unlock()
	drain(f)
	stop2, _ := runEngine(t, f, Config{}, nil, true)
	defer stop2()
	f.eventually("A and 103 talk, the transferer's legs are gone, it is told", func() bool {
		return bridgedLocked(f, "A", k) && f.channels[x1] == nil && f.channels[b2] == nil &&
			slices.Contains(f.progress[x1], progressAnswered)
	})
	f.hangsUp(k)
	f.eventually("everything gone", func() bool { return noneLeft(f) })
}

// A record that says nothing usable is not a REFER.
func TestDecodeRefer(t *testing.T) {
	in := transferRequested{transfererID: "x", transfereeID: "a", destination: "1&2=3", replaces: "r@h;to-tag=1", targetID: "k", consultID: "b"}
	got, ok := decodeRefer("x", encodeRefer(in))
	if !ok || got != in {
		t.Fatalf("round trip: got %+v, %v; want %+v", got, ok, in)
	}
	for _, bad := range []string{"", "transferee=a", "%zz"} {
		if _, ok := decodeRefer("x", bad); ok {
			t.Errorf("decodeRefer(%q) accepted", bad)
		}
	}
}

// A replica killed while an attended transfer's final NOTIFY waited for the
// consultation leg's destruction: the successor finds the transferer's leg
// (one transferd created: the callee of the first call) beside the pair it
// connected, its REFER on record, and tells it the transfer worked
// (hanging it up untold made Asterisk answer the phone 503).
func TestAdoptionTellsACreatedTransfererOwedItsNotify(t *testing.T) {
	f := newFakeAsterisk(t)
	stop, _ := runEngine(t, f, Config{}, nil, false)
	x1, b2, k := consulting(t, f, true)
	f.destroysSlowly(b2)
	f.attendedRefers(x1, "A", b2, k)
	f.eventually("A and 103 talk, the NOTIFY held back", func() bool {
		return bridgedLocked(f, "A", k) && f.hungUp[b2] != "" && len(f.progress[x1]) == 0 && f.channels[x1] != nil
	})
	stop()
	f.destroyed(b2)
	drain(f)
	stop2, _ := runEngine(t, f, Config{}, nil, true)
	defer stop2()
	f.eventually("the transferer is told the transfer worked, its leg leaves; A and 103 talk", func() bool {
		return slices.Equal(f.progress[x1], []string{progressAnswered}) && bridgedLocked(f, "A", k)
	})
	f.hangsUp(x1) // its phone hangs up once told
	f.hangsUp(k)
	f.eventually("everything gone", func() bool { return noneLeft(f) })
}
