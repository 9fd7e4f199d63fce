package transfer

import (
	"fmt"
	"strconv"
)

// The inputs and commands of a blind transfer's machine (blindmachine.go),
// each printed as the owner logs it and as the transcripts in
// testdata/blind_transfer write it.

// A blindInput is something the blind transfer learns from its owner.
type blindInput interface {
	fmt.Stringer
	blindInput()
}

// blindReferred: the transferer's phone sent a blind REFER to
// destination, for transferee, while the call is talking (the owner
// declines any other, and turns one to the voicemail feature code into a
// voicemail transfer).
// byAsterisk: Asterisk took the REFER itself (core handling), told the
// phone it worked, and its Local channel, which took the transferer's
// place, is already gone: transferd dials the number itself.
type blindReferred struct {
	transferer  party
	transferee  string
	destination string
	byAsterisk  bool
}

// targetDialled: the result of dialTarget: target rings for destination
// (as the policy may have rewritten it).
type targetDialled struct{ target, destination string }

// targetNotDialled: the result of dialTarget: the policy refused the
// transfer (refused), or the destination is unknown or unreachable.
type targetNotDialled struct {
	refused bool
	reason  string
}

// targetRinging: a blind transfer's target rings (or, recall, the
// transferer's phone rings back) for transferee. The transferee hears
// ringback (the owner starts it: startRingback), or waits held with music
// (held: a transfer through the API), or hears nothing yet (an adopted
// call whose target already answered). It starts the machine afresh.
type targetRinging struct {
	transferee, target string
	destination        string // the extension dialled ("" on a recall)
	transferer         string // the transferer's extension ("" when unknown)
	ringback, held     bool
	recall             bool
}

// ringbackStarted: the result of startRingback.
type ringbackStarted struct{ ok bool }

// targetAnswered: the ringing target (or recalled transferer) answered.
type targetAnswered struct{ channel string }

// targetFailed: a Dial status says the ringing target will not answer
// (BUSY, NOANSWER, CHANUNAVAIL, CONGESTION).
type targetFailed struct{ channel, status string }

// legHungUp: a channel of the call hung up (Q.850 cause) while the
// transfer is under way; answered: it had answered.
type legHungUp struct {
	channel  string
	cause    int
	answered bool
}

// joined: the result of joinBridge.
type joined struct {
	channel string
	ok      bool
}

// recallDialled: the result of dialRecall: channel rings (ok), or the
// transferer cannot be rung back (reason).
type recallDialled struct {
	channel string
	reason  string // "" when ok
}

// mailboxChecked: the result of checkMailbox: the mailbox to use (the
// policy may rewrite it), or why the transfer is refused. dial: another
// node hosts the mailbox and this reaches its voicemail over the trunk
// (Config.Routes); whether the mailbox exists is that node's to say.
type mailboxChecked struct {
	mailbox string
	dial    string // "" for a mailbox of this node
	reason  string // "" when the mailbox is there and allowed
}

// mailboxElsewhere: send transferee to the voicemail of mailbox, which
// another node hosts, by dialling it (dial) as a blind transfer's target:
// a voicemail entry or the API whose transferer (the extension) is gone.
// Should that fail, the transferer is rung back, then fallback's
// voicemail takes the transferee. held: the transferee waits out of the
// bridge with music (else it hears ringback). It starts the machine
// afresh.
type mailboxElsewhere struct {
	transferee, transferer string
	mailbox, dial          string
	fallback               string
	held                   bool
}

// recallRequested: ring the transferer (its extension) back for the
// transferee: a transfer that cannot be carried out after the
// transferer's phone left (Asterisk told it the transfer worked, or it
// hung up during a consultation, or the mailbox it keyed does not exist).
// Should the recall fail, the transferee goes to mailbox ("": the call
// ends).
type recallRequested struct{ transferee, transferer, mailbox string }

func (recallRequested) blindInput()  {}
func (mailboxChecked) blindInput()   {}
func (mailboxElsewhere) blindInput() {}
func (blindReferred) blindInput()    {}
func (targetDialled) blindInput()    {}
func (targetNotDialled) blindInput() {}
func (targetRinging) blindInput()    {}
func (ringbackStarted) blindInput()  {}
func (targetAnswered) blindInput()   {}
func (targetFailed) blindInput()     {}
func (legHungUp) blindInput()        {}
func (joined) blindInput()           {}
func (recallDialled) blindInput()    {}
func (callEnded) blindInput()        {}
func (partyReplaced) blindInput()    {}

func (in blindReferred) String() string {
	s := "refer from=" + in.transferer.String() + " transferee=" + in.transferee + " dest=" + strconv.Quote(in.destination)
	if in.byAsterisk {
		s += " by-asterisk"
	}
	return s
}
func (in recallRequested) String() string {
	return words("recall-requested", []string{"transferee", in.transferee, "transferer", in.transferer, "mailbox", in.mailbox})
}
func (in mailboxChecked) String() string {
	if in.reason != "" {
		return "mailbox-refused " + strconv.Quote(in.reason)
	}
	if in.dial != "" {
		return "mailbox-ok " + in.mailbox + " elsewhere=" + in.dial
	}
	return "mailbox-ok " + in.mailbox
}
func (in mailboxElsewhere) String() string {
	return words("mailbox-elsewhere", []string{"transferee", in.transferee, "transferer", in.transferer,
		"mailbox", in.mailbox, "dial", in.dial, "fallback", in.fallback}, flag(in.held, "held"))
}
func (in targetDialled) String() string {
	return "dialled " + in.target + " dest=" + strconv.Quote(in.destination)
}
func (in targetNotDialled) String() string {
	if in.refused {
		return "not-dialled refused " + strconv.Quote(in.reason)
	}
	return "not-dialled unavailable " + strconv.Quote(in.reason)
}
func (in targetRinging) String() string {
	s := "target-ringing transferee=" + in.transferee + " target=" + in.target + " dest=" + strconv.Quote(in.destination) + " transferer=" + strconv.Quote(in.transferer)
	if in.ringback {
		s += " ringback"
	}
	if in.held {
		s += " held"
	}
	if in.recall {
		s += " recall"
	}
	return s
}
func (in ringbackStarted) String() string {
	if in.ok {
		return "ringback-started"
	}
	return "ringback-failed"
}
func (in targetAnswered) String() string { return "answered " + in.channel }
func (in targetFailed) String() string   { return "dial-failed " + in.channel + " " + in.status }
func (in legHungUp) String() string {
	s := "hangup " + in.channel + " cause=" + strconv.Itoa(in.cause)
	if in.answered {
		s += " answered"
	}
	return s
}
func (in joined) String() string {
	if in.ok {
		return "joined " + in.channel
	}
	return "join-failed " + in.channel
}
func (in recallDialled) String() string {
	if in.reason == "" {
		return "recall-dialled " + in.channel
	}
	return "recall-failed " + strconv.Quote(in.reason)
}

// A blindCommand is something the blind transfer asks its owner to do.
type blindCommand interface {
	fmt.Stringer
	blindCommand()
}

// dialTarget: apply the transfer policy to a blind transfer of
// transferee to destination by transferer, route the destination and
// dial it (the transferee is the call's caller from then on); feed
// targetDialled or targetNotDialled. The Observer hears of it either way.
type dialTarget struct {
	transferer  party
	transferee  string
	destination string
}

// checkMailbox: apply the transfer policy to a voicemail transfer of
// transferee to mailbox by transferer and check the mailbox exists; feed
// mailboxChecked. The Observer hears of it either way.
type checkMailbox struct {
	transferer party
	transferee string
	mailbox    string
}

// dialMailbox: dial the voicemail of a mailbox another node hosts
// (dial) for transferee, who is the call's caller from then on; feed
// targetDialled or targetNotDialled (the Observer hears of a failure).
type dialMailbox struct{ transferee, mailbox, dial string }

// reportProgress: tell the phone on channel how its REFER goes
// (transfer_progress: progressAnswered, progressDeclined,
// progressUnavailable).
type reportProgress struct{ channel, state string }

// letPhoneHangUp: the transferer's leg leaves the call; its phone, told
// the transfer worked, ends its dialog itself.
type letPhoneHangUp struct{ channel string }

// stopHoldMusic: stop the music held hears if holder, who leaves, held
// it (Asterisk does not always stop it).
type stopHoldMusic struct{ holder, held string }

// startRingback: play ringing to the channel; feed ringbackStarted.
type startRingback struct{ channel string }

// stopRingback: stop the ringing the channel hears.
type stopRingback struct{ channel string }

// stopMusic: stop the music on hold the channel hears.
type stopMusic struct{ channel string }

// joinBridge: add the channel to the call's bridge; feed joined.
type joinBridge struct{ channel string }

// showConnected: tell viewer's phone it now talks to party.
type showConnected struct{ viewer, party string }

// reportAnswered: tell the Observer the target answered.
type reportAnswered struct{}

// reportOutcome: tell the Observer how the transfer ended.
type reportOutcome struct {
	outcome Outcome
	reason  string
	// destination: where the transfer went, when the machine learnt it
	// ("" leaves the report's as it is).
	destination string
}

// dialRecall: ring the transferer's extension back for the transferee
// (route it, create and dial its channel); feed recallDialled.
type dialRecall struct{ exten, transferee string }

// sendToVoicemail: send the channel to mailbox's voicemail; the call ends.
type sendToVoicemail struct{ channel, mailbox string }

// talkToTarget: the transferee and target talk; the target is the call's
// callee from now on and the call is talking again.
type talkToTarget struct{ target string }

// endCall: end the call (everything transferd holds of it goes).
type endCall struct{}

func (dialTarget) blindCommand()      {}
func (checkMailbox) blindCommand()    {}
func (dialMailbox) blindCommand()     {}
func (reportProgress) blindCommand()  {}
func (letPhoneHangUp) blindCommand()  {}
func (stopHoldMusic) blindCommand()   {}
func (startRingback) blindCommand()   {}
func (stopRingback) blindCommand()    {}
func (stopMusic) blindCommand()       {}
func (joinBridge) blindCommand()      {}
func (showConnected) blindCommand()   {}
func (reportAnswered) blindCommand()  {}
func (reportOutcome) blindCommand()   {}
func (dialRecall) blindCommand()      {}
func (sendToVoicemail) blindCommand() {}
func (talkToTarget) blindCommand()    {}
func (endCall) blindCommand()         {}

func (c dialTarget) String() string {
	return "dial-target " + strconv.Quote(c.destination) + " for " + c.transferee + " by " + c.transferer.String()
}
func (c reportProgress) String() string { return "progress " + c.channel + " " + c.state }
func (c checkMailbox) String() string {
	return "check-mailbox " + strconv.Quote(c.mailbox) + " for " + c.transferee + " by " + c.transferer.String()
}
func (c dialMailbox) String() string {
	return "dial-mailbox " + c.mailbox + " " + c.dial + " for " + c.transferee
}
func (c letPhoneHangUp) String() string { return "let-phone-hang-up " + c.channel }
func (c stopHoldMusic) String() string  { return "stop-hold-music " + c.held + " held by " + c.holder }
func (c startRingback) String() string  { return "start-ringback " + c.channel }
func (c stopRingback) String() string   { return "stop-ringback " + c.channel }
func (c stopMusic) String() string      { return "stop-music " + c.channel }
func (c joinBridge) String() string     { return "join " + c.channel }
func (c showConnected) String() string  { return "show-connected " + c.viewer + " " + c.party }
func (reportAnswered) String() string   { return "report-answered" }
func (c reportOutcome) String() string {
	s := "report-outcome " + string(c.outcome) + " " + strconv.Quote(c.reason)
	if c.destination != "" {
		s += " to " + c.destination
	}
	return s
}
func (c dialRecall) String() string      { return "dial-recall " + c.exten + " for " + c.transferee }
func (c sendToVoicemail) String() string { return "voicemail " + c.channel + " " + c.mailbox }
func (c talkToTarget) String() string    { return "talk-to-target " + c.target }
func (endCall) String() string           { return "end-call" }
