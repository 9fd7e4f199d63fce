package transfer

import "fmt"

// handOverAsk is a request to hand a consultation call over, as the
// consultation call sees it (onHandOverRequest gathers it).
type handOverAsk struct {
	state callState
	// replaced: what the request names: the leg the REFER's Replaces
	// named (or, with no Replaces, the live leg of the transferer's
	// extension): "party" (one of the call's two parties), "other" (a
	// channel of the call that is not one of them) or "" (none found).
	replaced    string
	consultLive bool
	// consultUnanswered: the replaced leg is the consultation call's
	// callee, still ringing the transferer's phone.
	consultUnanswered bool
	consultExten      string // the replaced leg's extension
	transfererExten   string
	colleagueLive     bool
	// end: the transferer hung up and is rung back: the consultation is
	// to end, not to be handed over.
	end bool
}

// handOverVerdict is what the consultation call does with a request.
type handOverVerdict int

const (
	// handOverRefuse: refuse, with a reason the transferer's call
	// reports.
	handOverRefuse handOverVerdict = iota
	// handOverEnd: end the consultation (the transferer is rung back).
	handOverEnd
	// handOverIfAllowed: ask the transfer policy; hand over if it allows.
	handOverIfAllowed
)

func (v handOverVerdict) String() string {
	return [...]string{"refuse", "end-consultation", "hand-over-if-allowed"}[v]
}

// decideHandOver is the consultation call's decision, pure: a REFER may
// only replace a live call of the transferer's own phone whose colleague
// is still there, while the consultation rings or talks.
func decideHandOver(a handOverAsk) (handOverVerdict, string) {
	switch {
	case a.state != stateRinging && a.state != stateTalking:
		return handOverRefuse, fmt.Sprintf("the consultation call is %s", a.state)
	case a.replaced != "party":
		return handOverRefuse, "the replaced channel is not a party of the consultation call"
	case !a.consultLive:
		return handOverRefuse, "the transferer's consultation leg has hung up"
	case a.consultUnanswered:
		// A call ringing the transferer's phone is no consultation: its
		// caller rings nobody the transferer called. Merged, the held
		// party and that caller each heard ringback for good, nothing
		// ringing (a transferer hanging up while holding, another call
		// ringing its phone; engine fuzz).
		return handOverRefuse, "the transferer's phone has not answered this call"
	case a.consultExten != a.transfererExten:
		// Another phone's call: the REFER names a dialog it has no part in.
		return handOverRefuse, fmt.Sprintf("the replaced call belongs to %q, not to the transferer %q", a.consultExten, a.transfererExten)
	case !a.colleagueLive:
		return handOverRefuse, "the colleague has left the consultation call"
	case a.end:
		return handOverEnd, ""
	}
	return handOverIfAllowed, ""
}

func (a handOverAsk) String() string {
	return words("ask", []string{"state", a.state.String(), "replaced", a.replaced, "consult-exten", a.consultExten,
		"transferer", a.transfererExten},
		flag(a.consultLive, "consult-live"), flag(a.consultUnanswered, "consult-unanswered"), flag(a.colleagueLive, "colleague-live"),
		flag(a.end, "end"))
}
