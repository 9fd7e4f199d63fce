package transfer

import (
	"slices"
	"strings"
	"testing"
)

// hangupsOf returns how many times transferd hung channel id up.
func hangupsOf(f *fakeAsterisk, id string) int {
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, "hangup "+id+" ") {
			n++
		}
	}
	return n
}

func inABridgeLocked(f *fakeAsterisk, id string) bool {
	for _, members := range f.bridges {
		if members[id] {
			return true
		}
	}
	return false
}

// Given a blind transfer its phone asked for, when the phone is told it
// worked and hangs up by itself, then transferd never hangs its leg up
// (no BYE from Asterisk crossing the phone's own), while the transferee
// already hears the target ring.
func TestTransfererPhoneEndsItsOwnCallAfterABlindTransfer(t *testing.T) {
	f := startEngine(t, Config{})
	a, b := talking(t, f)
	f.holds(b)
	f.refers(b, a, "103")
	f.eventually("102 told 200, out of the bridge, 103 rings", func() bool {
		return slices.Contains(f.progress[b], progressAnswered) && !inABridgeLocked(f, b) && f.ringingLocked("PJSIP/103")
	})
	f.hangsUp(b) // the phone's BYE, milliseconds after the NOTIFY
	target := f.createdChannel("PJSIP/103")
	f.answers(target)
	f.eventually("101 talks to 103", func() bool { return bridgedLocked(f, a, target) })
	f.mu.Lock()
	n := hangupsOf(f, b)
	f.mu.Unlock()
	if n != 0 {
		t.Fatalf("transferd hung up 102's leg %d times; its phone ends that call\n%s", n, f.snapshot())
	}
}

// Given a blind transfer, when the transferer's phone never hangs up,
// then transferd hangs its leg up after byeWait: nothing is left.
func TestTransfererPhoneThatStaysOnIsHungUpAfterTheWait(t *testing.T) {
	f := startEngine(t, Config{})
	a, b := talking(t, f)
	f.holds(b)
	f.refers(b, a, "103")
	f.eventually("102 told 200", func() bool { return slices.Contains(f.progress[b], progressAnswered) })
	f.mu.Lock()
	early := hangupsOf(f, b)
	f.mu.Unlock()
	if early != 0 {
		t.Fatalf("102's leg hung up as it was told; want its phone given %s to do it", byeWait)
	}
	f.eventually("102's leg hung up by transferd", func() bool { return hangupsOf(f, b) == 1 })
	f.hangsUp(a)
	f.eventually("nothing left", func() bool { return len(f.channels) == 0 && len(f.bridges) == 0 })
}

// Given a consultation whose colleague still rings, when the transferer
// completes, then its consultation leg is answered before it is hung up:
// its phone reads a connected call ended by BYE, not 603 Decline.
func TestConsultationLegIsAnsweredBeforeHangupWhenCompletedWhileRinging(t *testing.T) {
	f := startEngine(t, Config{})
	x1, b2, k := consulting(t, f, false)
	f.attendedRefers(x1, "A", b2, k)
	f.eventually("102 told 200", func() bool { return slices.Contains(f.progress[x1], progressAnswered) })
	f.mu.Lock()
	answer, hangup := slices.Index(f.calls, "answer "+b2), slices.Index(f.calls, "hangup "+b2+" normal")
	f.mu.Unlock()
	if answer < 0 || hangup < answer {
		t.Fatalf("consultation leg: answer at %d, hangup at %d; want answered, then hung up\n%s", answer, hangup, f.snapshot())
	}
}
