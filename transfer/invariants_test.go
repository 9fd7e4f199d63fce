package transfer

import (
	"fmt"
	"slices"
	"strings"
)

// What must hold whenever the engine has handled everything that happened
// (the engine fuzz checks after every phone action: steppedEngine.settle).
// Each is stated in what Asterisk holds — the fake's channels, bridges,
// what each channel hears, what each phone was told — never in the
// engine's own state, so that a wrong change to the engine cannot make
// its own check agree with it. Each says what a person would notice when
// it breaks.
//
// The functions read the fake's fields: the caller holds its lock.

// referLedger is what the fuzz knows of the phones' REFERs that Asterisk's
// state does not show.
type referLedger struct {
	sent map[string]int // REFERs sent, per phone channel
	// owed: phones that sent a REFER at a quiet point while in a
	// conversation, with the final reports they had been told before it.
	owed map[string]int
}

func newReferLedger() *referLedger {
	return &referLedger{sent: map[string]int{}, owed: map[string]int{}}
}

// quietInvariant is one invariant: its name and a check that returns
// what breaks it ("" when it holds).
type quietInvariant struct {
	name  string
	check func(f *fakeAsterisk, l *referLedger) string
}

var quietInvariants = []quietInvariant{
	// A phone shows one outcome per transfer: a second final NOTIFY for a
	// REFER shows "transfer failed" after "transferred", or the reverse.
	{"one-final-report", func(f *fakeAsterisk, l *referLedger) string { return tooManyFinalReports(f.progress, l.sent) }},
	{"refer-answered", referUnanswered},
	{"no-stranded-leg", strandedLeg},
	{"party-hears-something", silentParty},
	{"rings-for-someone", ringingForNobody},
	{"ringback-while-ringing", ringbackForNothing},
	{"no-music-over-talk", musicOverTalk},
	{"no-empty-bridge", emptyBridge},
}

// checkQuiet returns the first invariant that does not hold, as an error
// naming it.
func checkQuiet(f *fakeAsterisk, l *referLedger) error {
	for _, inv := range quietInvariants {
		if breach := inv.check(f, l); breach != "" {
			return fmt.Errorf("invariant %s broken: %s", inv.name, breach)
		}
	}
	return nil
}

// tooManyFinalReports names a phone channel told more final outcomes of
// its REFERs than it sent REFERs ("" when none was).
func tooManyFinalReports(progress map[string][]string, refers map[string]int) string {
	for _, id := range keys(progress) {
		if states := progress[id]; finalReports(states) > refers[id] {
			return fmt.Sprintf("%s sent %d REFERs and was told %d final outcomes: %v", id, refers[id], finalReports(states), states)
		}
	}
	return ""
}

func finalReports(states []string) int {
	finals := 0
	for _, s := range states {
		if s != progressTrying {
			finals++
		}
	}
	return finals
}

// talksLocked reports whether channel id is in a conversation: answered,
// in a bridge with another answered party, and still transferd's (a phone
// whose channel Asterisk swapped out was told its transfer worked: a REFER
// it sends after that is nobody's to answer, and transferd ignores it).
func (f *fakeAsterisk) talksLocked(id string) bool {
	ch := f.channels[id]
	return ch != nil && ch.state == "Up" && f.companionLocked(id) != "" && !f.leftTheCallLocked(id)
}

// companionLocked returns an answered channel that shares a bridge with
// id ("" when none does): someone id hears, or whose hold makes Asterisk
// play id music on hold.
func (f *fakeAsterisk) companionLocked(id string) string {
	for _, b := range keys(f.bridges) {
		members := f.bridges[b]
		if !members[id] {
			continue
		}
		for _, other := range keys(members) {
			if ch := f.channels[other]; other != id && ch != nil && ch.state == "Up" {
				return other
			}
		}
	}
	return ""
}

func (f *fakeAsterisk) inBridgeLocked(id string) bool {
	for _, members := range f.bridges {
		if members[id] {
			return true
		}
	}
	return false
}

// A phone that sent a REFER in a conversation is told how it went, at
// once: blind transfers as soon as the target rings or cannot (RFC 3515's
// final NOTIFY), attended ones once the consultation call has answered
// the hand-over. Its user otherwise sees "transferring" until the phone
// gives up, not knowing where the other party went. Not owed: a REFER
// sent while the engine was still busy with earlier events (the fuzz's
// at-once steps: the engine may take it for the echo of one it handled),
// or from a phone that has hung up since (nobody to tell).
func referUnanswered(f *fakeAsterisk, l *referLedger) string {
	for _, id := range keys(l.owed) {
		had := l.owed[id]
		if f.channels[id] != nil && finalReports(f.progress[id]) <= had {
			return fmt.Sprintf("%s sent a REFER while talking and was told no outcome (progress so far: %v)", id, f.progress[id])
		}
		delete(l.owed, id)
	}
	return ""
}

// Nobody is left outside every bridge answered and hearing nothing: a
// phone's call waiting to be answered hears ringback, a leg transferd
// created rings (it was dialled), an answered channel outside any bridge
// hears music on hold or ringback. Otherwise a person hears dead air and
// hangs up. Channels that are no longer anyone's conversation are left
// out: sent on to the dialplan (voicemail), a transferer's leg waiting up
// to byeWait for the BYE its phone sends after the final NOTIFY
// (departure.go: hanging it up at once caused BYE glare), a phone's
// channel Asterisk replaced with a Local channel (core handling: its
// phone was told the transfer worked and hangs up). Local channels are
// Asterisk's own.
func strandedLeg(f *fakeAsterisk, _ *referLedger) string {
	for _, id := range keys(f.channels) {
		ch := f.channels[id]
		if ch.endpoint == "Local" || f.leftTheCallLocked(id) || f.inBridgeLocked(id) {
			continue
		}
		switch {
		case ch.created && ch.state == "Down":
			return fmt.Sprintf("%s (%s) was created and never dialled", id, ch.endpoint)
		case !ch.created && ch.state == "Ring" && !f.ringing[id]:
			return fmt.Sprintf("%s (%s) calls and hears no ringback", id, ch.endpoint)
		case ch.state == "Up" && !f.ringing[id] && !f.music[id]:
			return fmt.Sprintf("%s (%s) is answered, in no bridge, and hears nothing", id, ch.endpoint)
		}
	}
	return ""
}

// leftTheCallLocked reports whether id is no longer part of a
// conversation transferd runs (see strandedLeg).
func (f *fakeAsterisk) leftTheCallLocked(id string) bool {
	_, continued := f.continued[id]
	return continued || f.swappedOut[id] || f.vars[id]["TRANSFERD_CALL"] == departedCall
}

// A party in a bridge hears someone: another answered party (or, when
// that one's phone holds, Asterisk's music on hold), or else transferd
// plays it ringback or music — above all a held party whose holder has
// left: a blind transfer's transferee while the target rings, a
// transferee whose colleague still rings. Silence makes people think the
// call dropped. Not owed: a party whose own phone holds (the phone plays
// its user nothing anyway), and the user keying a mailbox number after
// the voicemail feature code (alone on purpose; the party it holds hears
// music).
func silentParty(f *fakeAsterisk, _ *referLedger) string {
	for _, b := range keys(f.bridges) {
		for _, id := range keys(f.bridges[b]) {
			ch := f.channels[id]
			if ch == nil || ch.state != "Up" || ch.endpoint == "Local" || f.leftTheCallLocked(id) {
				continue
			}
			if f.companionLocked(id) != "" || f.ringing[id] || f.music[id] || f.holding[id] || f.keyingMailboxLocked(id) {
				continue
			}
			return fmt.Sprintf("%s (%s) is alone in bridge %s and hears nothing", id, ch.endpoint, b)
		}
	}
	return ""
}

// keyingMailboxLocked reports whether id's user is keying a voicemail
// mailbox number: a party held with music carries an entry recorded for
// id's extension (voicemailVariable, "<user's extension>:<digits>").
func (f *fakeAsterisk) keyingMailboxLocked(id string) bool {
	exten := strings.TrimPrefix(f.channels[id].endpoint, "PJSIP/")
	for _, held := range keys(f.music) {
		if f.channels[held] != nil && strings.HasPrefix(f.vars[held][voicemailVariable], exten+":") {
			return true
		}
	}
	return false
}

// listenersLocked returns the channels hearing ringback, and those hearing
// ringback or music, that are still transferd's (in Stasis, in no other
// hands).
func (f *fakeAsterisk) listenersLocked() (ringback, waiting []string) {
	for _, id := range keys(f.channels) {
		if f.channels[id].endpoint == "Local" || f.leftTheCallLocked(id) {
			continue
		}
		if f.ringing[id] {
			ringback = append(ringback, id)
		}
		if f.ringing[id] || f.music[id] {
			waiting = append(waiting, id)
		}
	}
	return ringback, waiting
}

// ringingLegsLocked returns the legs transferd dialled that ring.
func (f *fakeAsterisk) ringingLegsLocked() []string {
	var out []string
	for _, id := range keys(f.channels) {
		if ch := f.channels[id]; ch.created && ch.state == "Ringing" {
			out = append(out, id)
		}
	}
	return out
}

// A leg transferd dials rings for somebody: while it rings, some party
// waits for it, hearing ringback (or music). Otherwise a phone rings for
// a call whose caller is gone, and whoever answers hears nobody.
// (Stated across calls: pairing a ringing leg with the party it rings for
// would take the engine's own view of its calls.)
func ringingForNobody(f *fakeAsterisk, _ *referLedger) string {
	ringing := f.ringingLegsLocked()
	if _, waiting := f.listenersLocked(); len(ringing) > 0 && len(waiting) == 0 {
		return fmt.Sprintf("%v ring(s) and nobody waits for them", ringing)
	}
	return ""
}

// Ringback means something rings: a party hearing it while no leg rings
// waits for nothing (the target answered, failed or was hung up and the
// ringback was not stopped) and hears ringing for ever, or over the
// conversation it is now in.
func ringbackForNothing(f *fakeAsterisk, _ *referLedger) string {
	if ringback, _ := f.listenersLocked(); len(ringback) > 0 && len(f.ringingLegsLocked()) == 0 {
		return fmt.Sprintf("%v hear(s) ringback and nothing rings", ringback)
	}
	return ""
}

// Music on hold that transferd plays stops once the party talks to
// someone again, unless that someone still holds: otherwise the party
// hears music over the conversation (load harness, before stopHoldMusic:
// transferees heard music instead of the colleague or target for the rest
// of the call).
func musicOverTalk(f *fakeAsterisk, _ *referLedger) string {
	for _, id := range keys(f.music) {
		if f.channels[id] == nil {
			continue
		}
		for _, b := range keys(f.bridges) {
			members := f.bridges[b]
			if !members[id] {
				continue
			}
			for _, other := range keys(members) {
				if ch := f.channels[other]; other != id && ch != nil && ch.state == "Up" && !f.holding[other] {
					return fmt.Sprintf("%s hears music on hold while in bridge %s with %s, who does not hold", id, b, other)
				}
			}
		}
	}
	return ""
}

// A bridge transferd created has someone in it. The one wait for a member
// is a callee that rings outside it (its join failed: Asterisk then holds
// it in its shared dial bridge; the call's bridge waits for the answer).
// An emptied bridge left behind (an attended transfer's consultation
// bridge, a call's bridge after its end) stays in Asterisk until
// transferd restarts: the operator sees bridges pile up under load.
func emptyBridge(f *fakeAsterisk, _ *referLedger) string {
	ringingOutside := slices.ContainsFunc(f.ringingLegsLocked(), func(id string) bool { return !f.inBridgeLocked(id) })
	for _, b := range keys(f.bridges) {
		if len(f.bridges[b]) == 0 && !ringingOutside {
			return fmt.Sprintf("bridge %s (%s) is empty", b, f.names[b])
		}
	}
	return ""
}
