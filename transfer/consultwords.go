package transfer

import (
	"fmt"
	"strconv"
)

// The inputs and commands of the API's transfer machine
// (consultmachine.go), each printed as the owner logs it and as the
// transcripts in testdata/api_transfer write it. The answers, the Dial
// statuses, hangups, joins and Asterisk's replacements are the blind
// transfer's inputs (blindwords.go); most commands are the other
// machines' too.

// A consultInput is something the API's transfer learns from its owner.
type consultInput interface {
	fmt.Stringer
	consultInput()
}

// transferAsked: the API asks to transfer held, one party of the call,
// to destination; transferer is the call's other party. The owner has
// checked that the call is free for a transfer and that both parties are
// there. kind is blind, attended or voicemail.
type transferAsked struct {
	kind        Kind
	held        party
	transferer  party
	destination string
	bridge      string // the call's bridge
}

// completeAsked: the API asks to complete the attended transfer.
type completeAsked struct{}

// cancelAsked: the API asks to cancel the attended transfer.
type cancelAsked struct{}

// destinationNotDialled: the result of dialDestination: the policy
// refused the destination (ErrRefused), nobody has it
// (ErrNoSuchExtension), or it cannot be reached (ErrUnavailable); err is
// the API's answer. (Its success is targetDialled.)
type destinationNotDialled struct{ err error }

// sentToMailbox: the result of sendToMailbox: the held party is in the
// mailbox (err nil; the call has ended), or why not (ErrRefused,
// ErrNoSuchMailbox), the API's answer.
type sentToMailbox struct{ err error }

func (transferAsked) consultInput()         {}
func (completeAsked) consultInput()         {}
func (cancelAsked) consultInput()           {}
func (targetDialled) consultInput()         {}
func (destinationNotDialled) consultInput() {}
func (sentToMailbox) consultInput()         {}
func (targetAnswered) consultInput()        {}
func (targetFailed) consultInput()          {}
func (legHungUp) consultInput()             {}
func (joined) consultInput()                {}
func (partyReplaced) consultInput()         {}
func (callEnded) consultInput()             {}

func (in transferAsked) String() string {
	return words("api-transfer", []string{"kind", string(in.kind), "held", in.held.String(),
		"transferer", in.transferer.String(), "dest", in.destination, "bridge", in.bridge})
}
func (completeAsked) String() string { return "api-complete" }
func (cancelAsked) String() string   { return "api-cancel" }
func (in destinationNotDialled) String() string {
	return "destination-not-dialled " + strconv.Quote(errText(in.err))
}
func (in sentToMailbox) String() string {
	if in.err == nil {
		return "sent-to-mailbox"
	}
	return "mailbox-refused " + strconv.Quote(errText(in.err))
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// A consultCommand is something the API's transfer asks its owner to do.
type consultCommand interface {
	fmt.Stringer
	consultCommand()
}

// dialDestination: apply the transfer policy to a transfer of held to
// destination by transferer, route the destination and dial it; feed
// targetDialled or destinationNotDialled. The Observer hears of a
// failure. A blind transfer is under way once dialled (the owner's
// startBlind: the held party is the call's caller, the destination its
// target, the Observer told); an attended one starts with
// beginConsultation.
type dialDestination struct {
	kind        Kind
	held        party
	transferer  party
	destination string
}

// sendToMailbox: check the mailbox against the policy and Asterisk, and
// send the held party to it while the transferer is hung up (the owner's
// voicemailTransfer, which tells the Observer); feed sentToMailbox.
type sendToMailbox struct {
	held, transferer party
	mailbox          string
}

// beginConsultation: the held party, the transferer and the destination
// ringing (target) are the call's parties (caller, callee, target); the
// Observer hears the attended transfer started and ringing; the call is
// consulting.
type beginConsultation struct {
	held, transferer    party
	target, destination string
}

// talkOn: the held party has gone; the transferer and the destination
// (target) are the call's parties, and the call is talking.
type talkOn struct{ transferer, target string }

// handToBlind: the destination rings for the held party under the blind
// transfer's rules: its machine takes ringing; the call is in its
// transfer's ringing.
type handToBlind struct{ ringing targetRinging }

// replyAPI: answer the API's request that is waiting.
type replyAPI struct {
	answer apiAnswer
	err    error // answerNotStarted: why
}

// apiAnswer is what the API's request gets back.
type apiAnswer int

const (
	// answerStarted: the transfer's id.
	answerStarted apiAnswer = iota
	// answerDone: nothing (completed, cancelled).
	answerDone
	// answerNotStarted: the destination's or mailbox's error (replyAPI.err).
	answerNotStarted
	// answerInProgress: ErrTransferInProgress.
	answerInProgress
	// answerNoConsultation: ErrNoConsultation.
	answerNoConsultation
	// answerUnavailable: ErrUnavailable (the held party could not rejoin;
	// the call has ended).
	answerUnavailable
	// answerCallEnded: ErrNoSuchCall (the call ended under the request).
	answerCallEnded
)

var apiAnswerNames = [...]string{"started", "done", "not-started", "in-progress", "no-consultation", "unavailable", "call-ended"}

func (a apiAnswer) String() string {
	if int(a) < len(apiAnswerNames) {
		return apiAnswerNames[a]
	}
	return fmt.Sprintf("answer(%d)", int(a))
}

func (dialDestination) consultCommand()   {}
func (sendToMailbox) consultCommand()     {}
func (beginConsultation) consultCommand() {}
func (talkOn) consultCommand()            {}
func (handToBlind) consultCommand()       {}
func (replyAPI) consultCommand()          {}
func (holdWithMusic) consultCommand()     {}
func (hangupLeg) consultCommand()         {}
func (leaveBridge) consultCommand()       {}
func (stopMusic) consultCommand()         {}
func (joinBridge) consultCommand()        {}
func (returnTo) consultCommand()          {}
func (talkTo) consultCommand()            {}
func (nowTalking) consultCommand()        {}
func (showConnected) consultCommand()     {}
func (reportAnswered) consultCommand()    {}
func (reportOutcome) consultCommand()     {}
func (endCall) consultCommand()           {}

func (c dialDestination) String() string {
	return words("dial-destination", []string{"kind", string(c.kind), "dest", c.destination, "held", c.held.String(),
		"transferer", c.transferer.String()})
}
func (c sendToMailbox) String() string {
	return words("send-to-mailbox", []string{"mailbox", c.mailbox, "held", c.held.String(), "transferer", c.transferer.String()})
}
func (c beginConsultation) String() string {
	return words("begin-consultation", []string{"held", c.held.String(), "transferer", c.transferer.String(),
		"target", c.target, "dest", c.destination})
}
func (c talkOn) String() string      { return "talk-on " + c.transferer + " with " + c.target }
func (c handToBlind) String() string { return "hand-to-blind " + c.ringing.String() }
func (c replyAPI) String() string {
	if c.answer == answerNotStarted {
		return "reply " + c.answer.String() + " " + strconv.Quote(errText(c.err))
	}
	return "reply " + c.answer.String()
}
