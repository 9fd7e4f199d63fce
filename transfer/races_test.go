package transfer

import (
	"slices"
	"strings"
	"testing"

	"github.com/transferd/transferd/ari"
)

// Given a consultation, when the colleague hangs up in the instant the
// transferer's REFER with Replaces arrives (Asterisk has the channel gone
// before its hangup events reach transferd), then the caller is not
// dropped: it goes back to the transferer, hears music on hold (the phone
// still holds), and the phone is told 503 once the consultation leg is
// destroyed, its own leg left up so its user can resume the caller.
func TestAttendedTransferColleagueLeavesAsItCompletes(t *testing.T) {
	f := startEngine(t, Config{})
	x1, b2, k := consulting(t, f, true)
	f.mu.Lock()
	delete(f.channels, k) // gone in Asterisk; its events come later
	for _, members := range f.bridges {
		delete(members, k)
	}
	f.mu.Unlock()
	f.attendedRefers(x1, "A", b2, k)
	f.eventually("the caller back with the transferer, hearing music", func() bool {
		return bridgedLocked(f, "A", x1) && f.music["A"]
	})
	f.eventually("102 told 503 after its consultation leg is gone", func() bool {
		return slices.Contains(f.progress[x1], progressUnavailable) && f.channels[b2] == nil
	})
	f.mu.Lock()
	f.gone(k, 16)
	f.mu.Unlock()
	f.mu.Lock()
	_, x1Up := f.channels[x1]
	_, aUp := f.channels["A"]
	answered := slices.Contains(f.progress[x1], progressAnswered)
	f.mu.Unlock()
	if !x1Up || !aUp || answered {
		t.Fatalf("after the failed completion: 102's leg up %v, caller up %v, told 200 %v; want both up, no 200\n%s", x1Up, aUp, answered, f.snapshot())
	}
	// 102 resumes and hangs up: the call ends cleanly.
	f.hangsUp("A")
	f.eventually("nothing left", func() bool { return len(f.channels) == 0 && len(f.bridges) == 0 })
}

// Given core handling and a consultation, when Asterisk's own attended
// transfer fails (it took the transferer's channel off hold as it
// started), then the caller hears music on hold again until the phone
// resumes, instead of silence.
func TestCoreAttendedTransferFailedGivesTheCallerMusicUntilResumed(t *testing.T) {
	f := startEngine(t, coreConfig())
	x1, _, _ := consulting(t, f, true)
	f.unholds(x1) // Asterisk's transfer code, not the phone
	f.events <- &ari.BridgeAttendedTransfer{Result: "Fail", TransfererFirstLeg: ari.Channel{ID: x1}}
	f.eventually("the caller hears music", func() bool { return f.music["A"] })
	f.unholds(x1) // the phone resumes
	f.eventually("the music stops", func() bool { return !f.music["A"] })
}

// Given a blind transfer under way, when Asterisk raises ChannelTransfer
// once more for the same REFER (the phone's BYE beat the progress report),
// then it is not taken for a new REFER: no second target, no report posted
// to the phone's gone channel.
func TestEchoedChannelTransferAfterTheTransfererLeftIsIgnored(t *testing.T) {
	f := startEngine(t, Config{})
	_, b := talking(t, f)
	f.holds(b)
	f.refers(b, "A", "103")
	f.eventually("103 rings, 102's leg hung up", func() bool {
		return f.ringingLocked("PJSIP/103") && f.channels[b] == nil
	})
	f.mu.Lock()
	delete(f.referPending, b) // (the echo is no REFER the fake waits on)
	f.mu.Unlock()
	f.events <- &ari.ChannelTransfer{
		ReferTo:    ari.ReferTo{RequestedDestination: ari.RequiredDestination{Destination: "103"}},
		ReferredBy: ari.ReferredBy{SourceChannel: ari.Channel{ID: b}, ConnectedChannel: &ari.Channel{ID: "A"}},
	}
	f.answers(f.createdChannel("PJSIP/103"))
	f.eventually("A talks to 103", func() bool { return bridgedLocked(f, "A", f.createdChannelLocked("PJSIP/103")) })
	f.mu.Lock()
	defer f.mu.Unlock()
	creates, reports := 0, 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, "create ") && strings.HasSuffix(c, " PJSIP/103") {
			creates++
		}
		if strings.HasPrefix(c, "transfer-progress "+b+" ") {
			reports++
		}
	}
	if creates != 1 || reports != 1 {
		t.Fatalf("103 dialled %d times, %d reports sent to 102's channel; want 1 and 1 (its 200)", creates, reports)
	}
}
