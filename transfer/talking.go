package transfer

import (
	"fmt"
	"strconv"
)

// Two decisions of a talking call, pure: what a party hanging up means,
// and what a phone holding or resuming changes. The owner gathers what
// they need (call.talkingLegGone, call.onHold) and carries the verdict
// out; the transcripts in testdata/talking tell them.

// talkingHangup: a party of a talking call hung up (after the *8 entry had
// its say: a user who finished keying completes that).
type talkingHangup struct {
	channel string
	// holding: its phone held the other party; otherLive: that party is
	// still there; transferBusy: an attended transfer is under way.
	holding, otherLive, transferBusy bool
	// consultation: a call of the same phone going on ("" none), the
	// consultation of a transferer who hangs up instead of pressing Tran.
	consultation string
	recall       bool // TransfererHangup=recall
}

// talkingVerdict is what follows a party hanging up.
type talkingVerdict int

const (
	// verdictEnd: the call ends (the other party is hung up).
	verdictEnd talkingVerdict = iota
	// verdictCompleteConsultation: the transferer hung up holding the
	// caller while consulting someone: the transfer completes (the held
	// party is never abandoned).
	verdictCompleteConsultation
	// verdictRecall: the same, configured to end the consultation and
	// ring the transferer back.
	verdictRecall
)

func (v talkingVerdict) String() string {
	return [...]string{"end-call", "complete-consultation", "end-consultation-and-recall"}[v]
}

// decideTalkingHangup: a hangup ends a talking call, except the
// transferer's while it holds the other party and consults someone.
func decideTalkingHangup(p talkingHangup) talkingVerdict {
	switch {
	case !p.holding || !p.otherLive || p.transferBusy || p.consultation == "":
		return verdictEnd
	case p.recall:
		return verdictRecall
	}
	return verdictCompleteConsultation
}

func (p talkingHangup) String() string {
	return words("party-left "+p.channel, []string{"consultation", p.consultation},
		flag(p.holding, "holding"), flag(p.otherLive, "other-live"), flag(p.transferBusy, "transfer-busy"), flag(p.recall, "recall"))
}

// holdSeen: a phone of a talking call held (onHold) or resumed.
// musicForOther: transferd plays music to the other party until this
// phone resumes (after a transfer that failed at completion: Asterisk
// does not restart its own for a leg back in the bridge).
type holdSeen struct {
	channel       string
	onHold        bool
	other         string
	musicForOther bool
}

// rememberHoldState: keep the phone's hold state on its channel (ARI does
// not report it; a successor adopting the call needs it: a transferer who
// hangs up while holding completes a transfer).
type rememberHoldState struct {
	channel string
	onHold  bool
}

// decideHold: Asterisk plays music on hold to the other party of a
// mixing bridge itself while a phone holds; transferd remembers who holds
// and, on resume, stops the music it played itself.
func decideHold(h holdSeen) []fmt.Stringer {
	cmds := []fmt.Stringer{rememberHoldState{channel: h.channel, onHold: h.onHold}}
	if !h.onHold && h.musicForOther {
		cmds = append(cmds, stopMusic{channel: h.other})
	}
	return cmds
}

func (h holdSeen) String() string {
	name := "resume"
	if h.onHold {
		name = "hold"
	}
	return words(name+" "+h.channel, []string{"other", h.other}, flag(h.musicForOther, "music-for-other"))
}

func (c rememberHoldState) String() string {
	return "remember-hold " + c.channel + " " + strconv.FormatBool(c.onHold)
}
