package transfer

// Which of a call's phones to probe for a REFER whose event was lost
// after a reconnect (probeAfterReconnect; after an adoption the adoption
// plan says), and what a call does with a REFER Asterisk announces again
// (the echo of a probe, referprobe.go), decided purely from what the call
// knows of the channel (decideReferEcho); the owner carries the verdict
// out (onReferEcho). The transcripts in testdata/refer_probe and
// testdata/refer_echo tell each case.

// referEcho is a ChannelTransfer with state channel_progress, as the call
// sees it: Asterisk re-announcing a REFER still pending on one of its
// channels, because channel_progress was posted on it (onReferEcho
// gathers it).
type referEcho struct {
	// state is the call's.
	state callState
	// probed: this owner probed the channel for a REFER the previous
	// transferd lost, and no REFER of the channel's phone has reached the
	// owner since (a fresh ChannelTransfer, or a REFER on record resumed).
	probed bool
	// party: the channel is a live party of the call.
	party bool
	// transferring: a transfer is under way in the call though it still
	// talks (an attended transfer awaiting its consultation call, a
	// blind transfer's target being dialled).
	transferring bool
}

// echoVerdict is what the call does with an echo.
type echoVerdict int

const (
	// echoIgnore: not a REFER to act on (with the reason).
	echoIgnore echoVerdict = iota
	// echoCarryOut: a REFER the previous transferd read and lost: it is
	// carried out as a fresh REFER would be.
	echoCarryOut
	// echoRefuse: a lost REFER the call cannot carry out now (another
	// transfer is under way): the phone is told it failed (603), so it
	// shows the transfer failed instead of waiting for a NOTIFY.
	echoRefuse
)

func (v echoVerdict) String() string {
	return [...]string{"ignore", "carry-out-lost-refer", "refuse-lost-refer"}[v]
}

// decideReferEcho is the call's decision, pure. Only the answer to this
// owner's own probe can be a lost REFER: transferd never posts
// channel_progress otherwise, and a REFER whose ChannelTransfer reached
// the owner (before or after the probe) is already handled as such, so
// the echo the probe raised for it is no second REFER.
func decideReferEcho(e referEcho) (echoVerdict, string) {
	switch {
	case !e.probed:
		return echoIgnore, "no probe of this channel awaits an answer: a REFER this transferd already handles"
	case !e.party:
		return echoIgnore, "the channel is no longer a party of the call"
	case e.state != stateTalking:
		return echoRefuse, "the call is " + e.state.String()
	case e.transferring:
		return echoRefuse, "another transfer is under way"
	}
	return echoCarryOut, ""
}

func (e referEcho) String() string {
	return words("echo", []string{"state", e.state.String()}, flag(e.probed, "probed"), flag(e.party, "party"),
		flag(e.transferring, "transferring"))
}

// resumedParty is one of a call's two parties as the call sees it when
// the event stream comes back after a break (onStreamResumed gathers it).
type resumedParty struct {
	id string
	// live: the party is still in the call's bridge.
	live bool
	// phone: a SIP channel with ari-only transfer handling (a REFER of
	// its phone would reach transferd).
	phone bool
	// referOpen: a REFER of its phone reached the call and is not settled
	// (recorded, or awaiting its first report).
	referOpen bool
}

// probeAfterReconnect returns the parties to probe for a REFER whose
// ChannelTransfer was lost with the connection (written into the broken
// one, or raised while no connection served the application): those of
// a talking call with no transfer under way, live phones with no REFER
// open. A call in a transfer would refuse a REFER anyway, and a party's
// REFER it knows of is no lost one.
func probeAfterReconnect(state callState, transferring bool, parties []resumedParty) []string {
	if state != stateTalking || transferring {
		return nil
	}
	var ids []string
	for _, p := range parties {
		if p.live && p.phone && !p.referOpen {
			ids = append(ids, p.id)
		}
	}
	return ids
}

func (p resumedParty) String() string {
	return words("party "+p.id, nil, flag(p.live, "live"), flag(p.phone, "phone"), flag(p.referOpen, "refer-open"))
}
