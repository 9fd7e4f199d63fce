package transfer

import "fmt"

// A transfer started through the API (Engine.StartTransfer): a
// receptionist's console moves one party of a call, the held party, and
// the other party is the transferer. Blind: the transferer leaves, the
// held party waits with music while the destination rings, under the
// blind transfer's rules from then on. Voicemail: the held party goes to
// the destination's mailbox, the transferer leaves. Attended, the API's
// consultation: the held party waits with music, out of the bridge, while
// the destination rings and then talks to the transferer; CompleteTransfer
// hands the held party to the destination (still ringing: blind rules),
// CancelTransfer hangs the destination up and the held party talks to the
// transferer again. A destination that declines, is busy or does not
// answer cancels; a transferer who hangs up completes, as a phone would; a
// held party who hangs up leaves the other two talking (or ends the call
// if the destination had not answered).
//
// consultMachine is that as a pure state machine, (state, input) → (next
// state, commands), like the phones' transfers (blindmachine.go,
// attendedmachine.go): no I/O, no clock, no timer, no goroutine. The
// call's owner feeds it the API's requests, the results of the requests it
// asked for, answers, Dial statuses and hangups, and executes the commands
// (call.stepConsult in apiconsult.go). A command with a result
// (dialDestination, sendToMailbox, joinBridge) is always the last of its
// batch; the owner feeds the result back before anything else.
//
// The API's answers are commands (replyAPI): whether there is a
// consultation to complete or cancel, what the destination's dialling
// means, a held party who cannot rejoin (ErrUnavailable) are the
// machine's decisions, and some are known only after a request's result,
// so the answer leaves with the batch that ends the request's path. A
// path the API started owes its answer (replyOwed); the same path started
// by a phone (the transferer hanging up completes) answers nobody. What
// the machine cannot know is checked by the owner before it asks
// (call.apiTransferAsked): whether the call is free for a transfer (it
// talks, no phone's transfer or *8 entry is under way) and which party
// the request names; those answers (ErrTransferInProgress,
// ErrNoSuchParty) leave at once and the machine never sees the request.
// Its inputs and commands are in consultwords.go; the transcripts in
// testdata/api_transfer tell its behaviour as stories.

// consultPhase is where a transfer started through the API is, as its
// parties experience it.
type consultPhase int

const (
	// consultNone: no transfer has been asked for through the API.
	consultNone consultPhase = iota
	// consultDiallingDestination: the destination is checked (policy,
	// router) and dialled (dialDestination); its result is the next input.
	consultDiallingDestination
	// consultSendingToMailbox: the mailbox is checked and the held party
	// sent to it (sendToMailbox); its result is the next input.
	consultSendingToMailbox
	// consultNotStarted: the destination or mailbox was refused or could
	// not be reached; the call goes on as it was.
	consultNotStarted
	// consultConsulting: the held party hears music out of the bridge;
	// the transferer waits while the destination rings, then talks to it.
	consultConsulting
	// consultConnectingDestination: the destination answered and joins
	// the transferer in the bridge.
	consultConnectingDestination
	// consultCompleting: the transferer has left; the held party, music
	// stopped, joins the bridge to meet the destination.
	consultCompleting
	// consultCancelling: the destination has gone; the held party, music
	// stopped, rejoins the transferer.
	consultCancelling
	// consultCompleted: the held party talks to the destination.
	consultCompleted
	// consultDestinationRinging: the destination rings for the held
	// party under the blind transfer's rules; its machine has it now.
	consultDestinationRinging
	// consultCancelled: the held party talks to the transferer again.
	consultCancelled
	// consultHeldPartyLeft: the held party hung up; the transferer and
	// the destination talk on.
	consultHeldPartyLeft
	// consultVoicemail: the held party was sent to the mailbox.
	consultVoicemail
	// consultEnded: the call ended during the transfer.
	consultEnded
)

var consultPhaseNames = [...]string{"none", "dialling-destination", "sending-to-mailbox", "not-started", "consulting",
	"connecting-destination", "completing", "cancelling", "completed", "destination-ringing", "cancelled",
	"held-party-left", "voicemail", "ended"}

func (p consultPhase) String() string {
	if int(p) < len(consultPhaseNames) {
		return consultPhaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// consultMachine is a call's transfer started through the API. Its zero
// value has none.
type consultMachine struct {
	phase       consultPhase
	kind        Kind
	held        party  // the party transferred
	transferer  party  // the call's other party
	destination string // the extension asked for; once dialled, as the policy rewrote it
	target      string // the destination's channel, once dialled
	bridge      string // the call's bridge
	answered    bool   // the destination answered
	// transfererGone, targetGone: the leg hung up (or was hung up).
	transfererGone bool
	targetGone     bool
	// replyOwed: the API's request that started the path under way waits
	// for its answer (replyAPI).
	replyOwed bool
	reason    string // cancelling: why, for the report
}

// active reports whether a transfer through the API is under way.
func (m consultMachine) active() bool {
	return m.phase != consultNone && m.phase < consultCompleted && m.phase != consultNotStarted
}

// heldParty is the channel of the party waiting with music while the
// transferer consults the destination ("" when nobody waits so).
func (m consultMachine) heldParty() string {
	if m.phase != consultConsulting && m.phase != consultConnectingDestination {
		return ""
	}
	return m.held.channel
}

func (m consultMachine) String() string {
	switch m.phase {
	case consultNone, consultNotStarted, consultEnded:
		return m.phase.String()
	}
	kv := []string{"kind", string(m.kind), "held", m.held.channel, "transferer", m.transferer.channel}
	if m.target != "" {
		kv = append(kv, "target", m.target)
	}
	return words(m.phase.String(), append(kv, "dest", m.destination),
		flag(m.answered, "answered"), flag(m.transfererGone, "transferer-gone"), flag(m.targetGone, "target-gone"),
		flag(m.replyOwed, "reply-owed"))
}

// Step applies one input: it returns the transfer's next state and what
// the owner must do, in order. An input a state does not take leaves the
// machine as it is and asks for nothing (said at each case), except an
// API request, which is always answered.
func (m consultMachine) Step(in consultInput) (consultMachine, []consultCommand) {
	switch in := in.(type) {
	case transferAsked:
		return m.asked(in)
	case targetDialled:
		if m.phase != consultDiallingDestination {
			return m, nil // no destination being dialled
		}
		m.target, m.destination = in.target, in.destination
		if m.kind == KindBlind {
			// The held party waits with music while the destination rings
			// (as when a phone holds it); the transferer leaves.
			m.phase, m.transfererGone = consultDestinationRinging, true
			return m.answer(answerStarted, hangupLeg{channel: m.transferer.channel}, holdWithMusic{channel: m.held.channel},
				handToBlind{ringing: targetRinging{transferee: m.held.channel, target: m.target, destination: m.destination,
					transferer: m.transferer.exten, held: true}})
		}
		m.phase = consultConsulting
		return m.answer(answerStarted, holdWithMusic{channel: m.held.channel},
			beginConsultation{held: m.held, transferer: m.transferer, target: m.target, destination: m.destination})
	case destinationNotDialled:
		if m.phase != consultDiallingDestination {
			return m, nil // no destination being dialled
		}
		// (The owner has told the Observer.) Nothing has changed.
		m.phase = consultNotStarted
		return m.answerErr(in.err)
	case sentToMailbox:
		if m.phase != consultSendingToMailbox {
			return m, nil // no mailbox asked for
		}
		if in.err != nil {
			m.phase = consultNotStarted
			return m.answerErr(in.err)
		}
		m.phase = consultVoicemail
		return m.answer(answerStarted)
	case targetAnswered:
		if m.phase != consultConsulting || m.answered || in.channel != m.target {
			return m, nil // not the ringing destination's
		}
		m.phase, m.answered = consultConnectingDestination, true
		return m, []consultCommand{joinBridge{channel: m.target}}
	case joined:
		return m.joined(in)
	case completeAsked:
		if m.phase != consultConsulting {
			return m, []consultCommand{replyAPI{answer: answerNoConsultation}}
		}
		m.replyOwed = true
		return m.complete()
	case cancelAsked:
		if m.phase != consultConsulting {
			return m, []consultCommand{replyAPI{answer: answerNoConsultation}}
		}
		m.replyOwed = true
		return m.cancel("cancelled by the API")
	case targetFailed:
		if m.phase != consultConsulting || m.answered || in.channel != m.target {
			return m, nil // not the ringing destination's
		}
		// Declined, busy, no answer: back to the held party.
		m.targetGone = true
		return m.cancel("the destination did not take the call")
	case legHungUp:
		if m.phase != consultConsulting {
			// (Before and after the consultation, the call's hangups are
			// the other machines'; in between, results are fed at once.)
			return m, nil
		}
		switch in.channel {
		case m.target:
			m.targetGone = true
			return m.cancel("the destination did not take the call")
		case m.transferer.channel:
			// The transferer leaving completes, as a phone would.
			m.transfererGone = true
			return m.complete()
		case m.held.channel:
			if !m.answered {
				// Nobody is left to talk to: the destination stops ringing.
				m.phase = consultEnded
				return m, []consultCommand{endCall{}}
			}
			m.phase = consultHeldPartyLeft
			return m, []consultCommand{talkOn{transferer: m.transferer.channel, target: m.target},
				reportOutcome{outcome: OutcomeCancelled, reason: "the held party hung up"}}
		}
		return m, nil // no party of the consultation
	case partyReplaced:
		// Asterisk put a channel of its own in a party's place (a phone
		// with core handling transferred): the consultation follows it.
		if !m.active() || in.old == "" {
			return m, nil
		}
		for _, id := range []*string{&m.held.channel, &m.transferer.channel, &m.target} {
			if *id == in.old {
				*id = in.new
				return m, nil
			}
		}
		return m, nil
	case callEnded:
		switch {
		case m.phase == consultSendingToMailbox:
			// Sending the held party to voicemail ends the call; the
			// result follows.
			return m, nil
		case !m.active():
			return m, nil
		}
		m.phase = consultEnded
		return m.answer(answerCallEnded)
	}
	return m, nil
}

// asked starts a transfer the API asked for (the owner has checked that
// the call is free for one and found its parties).
func (m consultMachine) asked(in transferAsked) (consultMachine, []consultCommand) {
	if m.active() {
		return m, []consultCommand{replyAPI{answer: answerInProgress}}
	}
	m = consultMachine{kind: in.kind, held: in.held, transferer: in.transferer, destination: in.destination,
		bridge: in.bridge, replyOwed: true}
	switch in.kind {
	case KindVoicemail:
		m.phase = consultSendingToMailbox
		return m, []consultCommand{sendToMailbox{held: m.held, transferer: m.transferer, mailbox: m.destination}}
	case KindBlind, KindAttended:
		m.phase = consultDiallingDestination
		return m, []consultCommand{dialDestination{kind: m.kind, held: m.held, transferer: m.transferer, destination: m.destination}}
	}
	m.phase = consultNotStarted
	return m.answerErr(fmt.Errorf("transfer kind %q: want blind, attended or voicemail", in.kind))
}

// joined takes the result of a join the machine asked for.
func (m consultMachine) joined(in joined) (consultMachine, []consultCommand) {
	switch {
	case m.phase == consultConnectingDestination && in.channel == m.target:
		if !in.ok {
			return m.cancel("the target could not join")
		}
		m.phase = consultConsulting
		return m, []consultCommand{reportAnswered{}}
	case m.phase == consultCompleting && in.channel == m.held.channel:
		if !in.ok {
			m.phase = consultEnded
			return m.answer(answerUnavailable, endCall{})
		}
		if !m.answered {
			// The destination still rings: it rings on for the held
			// party, who hears ringback now.
			m.phase = consultDestinationRinging
			return m.answer(answerDone, handToBlind{ringing: targetRinging{transferee: m.held.channel, target: m.target,
				destination: m.destination, transferer: m.transferer.exten, ringback: true}})
		}
		m.phase = consultCompleted
		return m.answer(answerDone, talkTo{transferee: m.held.channel, colleague: m.target},
			reportOutcome{outcome: OutcomeCompleted}, showConnected{viewer: m.held.channel, party: m.target},
			showConnected{viewer: m.target, party: m.held.channel})
	case m.phase == consultCancelling && in.channel == m.held.channel:
		if !in.ok {
			m.phase = consultEnded
			return m.answer(answerDone, endCall{})
		}
		m.phase = consultCancelled
		return m.answer(answerDone, nowTalking{}, reportOutcome{outcome: OutcomeCancelled, reason: m.reason})
	}
	return m, nil // no join asked for
}

// complete hands the held party to the destination: the transferer
// leaves, the held party joins the bridge.
func (m consultMachine) complete() (consultMachine, []consultCommand) {
	var cmds []consultCommand
	if !m.transfererGone {
		cmds = append(cmds, hangupLeg{channel: m.transferer.channel})
		m.transfererGone = true
	}
	m.phase = consultCompleting
	return m, append(cmds, stopMusic{channel: m.held.channel}, joinBridge{channel: m.held.channel})
}

// cancel ends the consultation: the destination is hung up, the held
// party comes back to the transferer.
func (m consultMachine) cancel(reason string) (consultMachine, []consultCommand) {
	var cmds []consultCommand
	if !m.targetGone {
		cmds = append(cmds, leaveBridge{bridge: m.bridge, channel: m.target}, hangupLeg{channel: m.target})
		m.targetGone = true
	}
	cmds = append(cmds, returnTo{transferee: m.held.channel, transferer: m.transferer.channel}, stopMusic{channel: m.held.channel})
	if m.transfererGone {
		// Nobody to come back to.
		m.phase = consultEnded
		return m.answer(answerDone, append(cmds, endCall{})...)
	}
	m.phase, m.reason = consultCancelling, reason
	return m, append(cmds, joinBridge{channel: m.held.channel})
}

// answer returns cmds followed by the API's answer, when a request waits
// for one.
func (m consultMachine) answer(a apiAnswer, cmds ...consultCommand) (consultMachine, []consultCommand) {
	if m.replyOwed {
		m.replyOwed = false
		cmds = append(cmds, replyAPI{answer: a})
	}
	return m, cmds
}

// answerErr answers the request that could not start with why.
func (m consultMachine) answerErr(err error) (consultMachine, []consultCommand) {
	m.replyOwed = false
	return m, []consultCommand{replyAPI{answer: answerNotStarted, err: err}}
}
