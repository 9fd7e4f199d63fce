package transfer

// What a call does with a REFER Asterisk announces again (the echo of a
// probe, referprobe.go), decided purely from what the call knows of the
// channel (decideReferEcho); the owner carries the verdict out
// (onReferEcho). The transcripts in testdata/refer_echo tell each case.

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
