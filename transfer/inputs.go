package transfer

// An input is something that happened, delivered to a call's owner in the
// order it happened: an Asterisk event translated into the engine's words,
// or a request from outside.
type input interface{ inputName() string }

// callArrived: a phone's call entered Stasis from the dialplan.
type callArrived struct {
	channelID   string
	channelName string // e.g. "PJSIP/101-00000003"
	callerExten string // the caller's number (caller ID)
	callerName  string // the caller's name (caller ID)
	dialled     string // the extension it dialled
	// clearTimeout: the dialplan bounded the wait for a transferd with
	// an absolute timeout (TRANSFERD_MAX_WAIT), which taking the call
	// must clear.
	clearTimeout bool
	// ownLeg: the channel is one the call created (a callee or target
	// entering Stasis, to be dialled), not a new caller.
	ownLeg bool
}

// legAnswered: a channel the engine dialled was answered.
type legAnswered struct{ channelID string }

// dialEnded: a channel the engine dialled will not be answered
// (BUSY, NOANSWER, CHANUNAVAIL, CONGESTION, CANCEL) or was (ANSWER).
type dialEnded struct{ channelID, status string }

// legGone: a channel hung up or left Stasis. cause is the Q.850 cause
// when Asterisk gave one.
type legGone struct {
	channelID string
	cause     int
	// destroyed: Asterisk has freed the channel (ChannelDestroyed), not
	// only hung it up or taken it out of Stasis.
	destroyed bool
}

// transferRequested: a phone sent REFER (ari-only transfer handling).
type transferRequested struct {
	transfererID string // the channel of the phone that sent REFER
	transfereeID string // the channel the transferer is talking to (Asterisk's view, may be "")
	destination  string // blind: Refer-To user part
	replaces     string // attended: Call-ID of the replaced dialog ("" for blind)
	targetID     string // attended: the transfer target's channel, when Asterisk knows it
	consultID    string // attended: the transferer's consultation channel
	// echo: not a new REFER but Asterisk announcing again one still
	// pending on the channel, because channel_progress was posted on it
	// (a probe for a REFER the previous transferd lost: referprobe.go).
	echo bool
}

// legReplaced: Asterisk swapped a channel of its own (a Local channel) in
// for one of the call's channels: a transfer Asterisk performs itself
// (core transfer handling).
type legReplaced struct {
	oldID   string
	newID   string
	newName string // "Local/103@transferd-transfer-00000005;1"
}

// nativeAttended: Asterisk completed an attended transfer itself (core
// handling), linking the transferer's two bridges with a Local pair.
type nativeAttended struct {
	result          string    // "Success" when Asterisk did it
	destinationType string    // "link" (two bridges) or "application" (a bridge and a ringing call)
	links           [2]string // the Local pair's channel ids, for "link"
	// transfererFirstLeg: the channel of the phone's held call (REFER).
	transfererFirstLeg string
}

// dtmfReceived: a digit arrived on a channel in the call's bridge.
type dtmfReceived struct{ channelID, digit string }

// holdChanged: a phone put the call on hold or took it off hold.
type holdChanged struct {
	channelID string
	onHold    bool
}

// playbackFinished: media the engine started has ended.
type playbackFinished struct{ playbackID string }

func (callArrived) inputName() string       { return "call-arrived" }
func (legAnswered) inputName() string       { return "answered" }
func (dialEnded) inputName() string         { return "dial-ended" }
func (legGone) inputName() string           { return "hung-up" }
func (transferRequested) inputName() string { return "transfer-requested" }
func (legReplaced) inputName() string       { return "replaced" }
func (nativeAttended) inputName() string    { return "native-attended-transfer" }
func (dtmfReceived) inputName() string      { return "dtmf" }
func (holdChanged) inputName() string       { return "hold" }
func (playbackFinished) inputName() string  { return "playback-finished" }
