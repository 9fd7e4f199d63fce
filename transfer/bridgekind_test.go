package transfer

import (
	"slices"
	"testing"
	"time"
)

// Bridges that hear DTMF only where a party keys the voicemail code during
// calls (Config.ReferOnlyExtensions, bridgekind.go), on the fake Asterisk.

// deafBridgeOf returns the bridge that holds exactly ids and whether it
// was created without DTMF events.
func deafBridgeOf(f *fakeAsterisk, ids ...string) (bridge string, deaf bool) {
	slices.Sort(ids)
	for id, members := range f.bridges {
		if slices.Equal(keys(members), ids) {
			return id, f.deaf[id]
		}
	}
	return "", false
}

func TestGivenDefaultConfigThenEveryCallsBridgeHearsDTMF(t *testing.T) {
	f := startEngine(t, Config{})
	caller, callee := talking(t, f)
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, deaf := deafBridgeOf(f, caller, callee); b == "" || deaf {
		t.Errorf("bridge %q deaf=%t, want one that hears DTMF (in-call *8 by default)\n%s", b, deaf, f.snapshotLocked())
	}
}

func TestGivenReferOnlyPhonesThenTheirCallIsPlainAndTheirKeyedCodeIsIgnored(t *testing.T) {
	f := startEngine(t, Config{ReferOnlyExtensions: ".", DigitTimeout: 500 * time.Millisecond})
	caller, callee := talking(t, f)
	f.mu.Lock()
	b, deaf := deafBridgeOf(f, caller, callee)
	f.mu.Unlock()
	if b == "" || !deaf {
		t.Fatalf("bridge %q deaf=%t, want a plain bridge for two refer-only phones\n%s", b, deaf, f.snapshot())
	}
	// (A real plain bridge raises no DTMF event for RFC 4733 digits; SIP
	// INFO digits still come: they must not start an entry.)
	f.keys(callee, "*8103#")
	time.Sleep(300 * time.Millisecond)
	f.mu.Lock()
	if !bridgedLocked(f, caller, callee) || f.music[caller] || len(f.continued) > 0 {
		t.Errorf("a refer-only phone's keyed code changed the call\n%s", f.snapshotLocked())
	}
	f.mu.Unlock()
	// Tran + *8 + 103: the REFER way works.
	f.holds(callee)
	f.refers(callee, caller, "*8103")
	f.eventually("caller in 103's voicemail", func() bool { return f.continued[caller] == "transferd-voicemail,103" })
}

func TestGivenAPlainCallWhenATransferBringsInAPhoneThatKeysTheCodeThenTheBridgeHearsDTMF(t *testing.T) {
	f := startEngine(t, Config{ReferOnlyExtensions: "^10[12]$"})
	caller, callee := talking(t, f)
	f.mu.Lock()
	plain, deaf := deafBridgeOf(f, caller, callee)
	f.mu.Unlock()
	if plain == "" || !deaf {
		t.Fatalf("bridge %q deaf=%t, want plain between 101 and 102\n%s", plain, deaf, f.snapshot())
	}
	f.refers(callee, caller, "103")
	f.eventually("target dialled", func() bool { return f.ringingLocked("PJSIP/103") })
	target := f.createdChannel("PJSIP/103")
	f.answers(target)
	f.eventually("caller and 103 talk in a bridge that hears DTMF; the plain one is gone", func() bool {
		b, deaf := deafBridgeOf(f, caller, target)
		_, plainLeft := f.bridges[plain]
		return b != "" && !deaf && !plainLeft
	})
	f.keys(target, "*8102#")
	f.eventually("103's *8102 sends the caller to 102's voicemail", func() bool {
		return f.continued[caller] == "transferd-voicemail,102"
	})
	f.eventually("nothing of transferd's left", func() bool { return len(f.bridges) == 0 })
}

func TestGivenInfoDTMFPhonesThenTheirCallIsPlainAndTheirKeyedCodeWorks(t *testing.T) {
	f := startEngine(t, Config{InfoDTMFExtensions: "^10[12]$"})
	caller, callee := talking(t, f)
	f.mu.Lock()
	b, deaf := deafBridgeOf(f, caller, callee)
	f.mu.Unlock()
	if b == "" || !deaf {
		t.Fatalf("bridge %q deaf=%t, want a plain bridge for two SIP INFO phones\n%s", b, deaf, f.snapshot())
	}
	f.keys(callee, "*8103#")
	f.eventually("caller in 103's voicemail", func() bool { return f.continued[caller] == "transferd-voicemail,103" })
}
