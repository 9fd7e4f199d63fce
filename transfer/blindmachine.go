package transfer

import (
	"fmt"
	"strings"
)

// A phone's blind REFER (RFC 3515, no Replaces) asks for the other party,
// the transferee, to be sent to a number. The owner checks it against the
// transfer policy and dials the target (dialTarget); the transferer's
// phone is then told how it went (a NOTIFY: 200 once the target rings,
// 603 refused, 503 not reachable) and, on success, leaves the call.
//
// Once a blind transfer is under way, the transferee waits — hearing
// ringback, or music when it was put on hold — while the transfer target
// rings. The target answers (the two talk), or it is busy, does not
// answer or cannot be reached: then, as configured, the transferer is
// rung back (a recall) or the transferee goes to the target's voicemail
// (to the transferer's after a recall that failed too).
//
// A voicemail transfer to a mailbox another Asterisk node hosts
// (Config.Routes) cannot hand the transferee to this node's dialplan: the
// owner dials that node's voicemail over the trunk (dialMailbox) and the
// transfer goes on as a blind transfer whose target is the voicemail
// (elsewhere). The other node says whether the mailbox exists: its
// voicemail answers, or the dial fails. A failure does not drop the
// transferee: the transferer is rung back (whatever TransferNoAnswer
// says: the transferee was not meant to ring anyone, and the mailbox
// asked for is the one that failed), then the fallback mailbox takes the
// transferee.
//
// blindMachine is a blind transfer as a pure state machine, (state,
// input) → (next state, commands), like the voicemail entry (vmentry.go):
// no I/O, no clock, no timer, no goroutine. The call's owner feeds it what
// happened (a REFER, the target answered, a Dial status, a hangup) and
// the results of the requests it asked for (the target dialled, a join, a
// recall dialled, ringback started), logs each transition and executes
// the commands (call.stepBlind in blind.go). A command whose result the
// machine waits for (dialTarget, dialMailbox, joinBridge, dialRecall,
// startRingback) is always the last of its batch; the owner feeds the result back before
// anything else. A phone's REFER starts the machine with blindReferred;
// the other ways a transfer gets to its ringing (the API, a transfer
// Asterisk started itself, an attended transfer completed while the
// colleague rings, a recall the owner starts, an adopted call) start it
// with targetRinging (another node's voicemail for a *8 entry or the API:
// mailboxElsewhere). Its inputs and commands are in blindwords.go.
// transferMachineFiles (machines_test.go) keeps both files free of I/O,
// and the transcripts in testdata/blind_transfer tell its behaviour as
// stories.

// blindPhase is where a blind transfer is, as its parties experience it.
type blindPhase int

const (
	// blindNone: no blind transfer has started on the call.
	blindNone blindPhase = iota
	// blindDiallingTarget: a REFER's destination is checked and dialled
	// (dialTarget); its result is the next input.
	blindDiallingTarget
	// blindRefused: the REFER could not be carried out (refused, unknown
	// or unreachable destination); the transferer's phone was told, and
	// the call goes on as it was.
	blindRefused
	// blindRinging: the target rings; the transferee waits.
	blindRinging
	// blindRecalling: the target failed; the transferer's phone rings
	// back for the transferee.
	blindRecalling
	// blindDiallingRecall: the owner dials the transferer back
	// (dialRecall); its result is the next input.
	blindDiallingRecall
	// blindConnectingTransferee: the target answered; the transferee,
	// held out of the bridge, is put back in (joinBridge).
	blindConnectingTransferee
	// blindConnectingTarget: the target answered and joins the bridge.
	blindConnectingTarget
	// blindCompleted: the transferee talks to the target (or to the
	// transferer rung back); the call is talking again.
	blindCompleted
	// blindVoicemail: the transferee was sent to a mailbox.
	blindVoicemail
	// blindEnded: the call ended during the transfer.
	blindEnded
	// blindCheckingMailbox: a REFER to the voicemail code and an
	// extension: the policy and the mailbox are checked (checkMailbox);
	// its result is the next input.
	blindCheckingMailbox
)

var blindPhaseNames = [...]string{"none", "dialling-target", "not-started", "ringing", "recalling", "dialling-recall",
	"connecting-transferee", "connecting-target", "completed", "voicemail", "ended", "checking-mailbox"}

func (p blindPhase) String() string {
	if int(p) < len(blindPhaseNames) {
		return blindPhaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// blindMachine is a call's blind transfer from the moment its target
// rings. Its zero value has no policy configured; newBlindMachine sets
// the policy.
type blindMachine struct {
	policy blindPolicy

	phase       blindPhase
	transferee  string // the channel that waits (the call's caller)
	target      string // the channel that rings (the transferer on a recall)
	destination string // the extension dialled: the target's mailbox
	transferer  string // the transferer's extension, for a recall ("" when unknown)
	referrer    string // the channel of the phone whose REFER started it
	// byAsterisk: Asterisk took the REFER itself (core handling) and told
	// the phone it worked; the transferer has left already.
	byAsterisk bool
	// reported: the transfer's outcome is already reported (a transfer
	// Asterisk accepted that transferd could not carry out).
	reported bool
	// elsewhere: the target is the voicemail of another node's mailbox;
	// destination is then the mailbox a failure falls back to.
	elsewhere bool
	recall    bool   // the phone ringing is the transferer's, rung back
	ringback  bool   // the transferee hears ringback (to be stopped)
	held      bool   // the transferee waits out of the bridge with music
	status    string // why the target failed (a Dial status), once it did
}

// blindPolicy is what the configuration decides for blind transfers.
type blindPolicy struct {
	// recallOnNoAnswer (TransferNoAnswer=recall) rings the transferer
	// back when the target fails, rather than sending the transferee to
	// the target's voicemail.
	recallOnNoAnswer bool
	// voicemailCode: a REFER to the code and an extension ("*8103")
	// sends the transferee to that voicemail (VoicemailCode).
	voicemailCode string
}

func newBlindMachine(policy blindPolicy) blindMachine {
	return blindMachine{policy: policy}
}

// active reports whether a blind transfer is under way.
func (m blindMachine) active() bool {
	return m.phase == blindDiallingTarget || m.phase == blindCheckingMailbox ||
		m.phase >= blindRinging && m.phase <= blindConnectingTarget
}

func (m blindMachine) String() string {
	switch m.phase {
	case blindNone, blindRefused:
		return m.phase.String()
	case blindDiallingTarget, blindCheckingMailbox:
		s := m.phase.String() + " transferer=" + m.referrer + " transferee=" + m.transferee
		if m.byAsterisk {
			s += " by-asterisk"
		}
		if m.elsewhere {
			s += " voicemail-elsewhere fallback=" + m.destination
		}
		return s
	}
	target := m.target
	if target == "" {
		target = "(none)"
	}
	s := m.phase.String() + " transferee=" + m.transferee + " target=" + target
	if m.ringback {
		s += " ringback"
	}
	if m.held {
		s += " held"
	}
	if m.recall && m.phase != blindRecalling {
		s += " recall"
	}
	if m.elsewhere {
		s += " voicemail-elsewhere"
	}
	return s
}

// Step applies one input: it returns the transfer's next state and what
// the owner must do, in order. An input a state does not take leaves the
// machine as it is and asks for nothing (said at each case).
func (m blindMachine) Step(in blindInput) (blindMachine, []blindCommand) {
	switch in := in.(type) {
	case blindReferred:
		if m.active() {
			return m, nil // (the owner declines a REFER unless talking)
		}
		m = blindMachine{policy: m.policy, phase: blindDiallingTarget,
			transferee: in.transferee, transferer: in.transferer.exten, referrer: in.transferer.channel,
			byAsterisk: in.byAsterisk}
		if mailbox, ok := strings.CutPrefix(in.destination, m.policy.voicemailCode); ok && m.policy.voicemailCode != "" {
			// "*8103": straight to 103's voicemail, nobody rings.
			m.phase, m.destination = blindCheckingMailbox, mailbox
			return m, []blindCommand{checkMailbox{transferer: in.transferer, transferee: in.transferee, mailbox: mailbox}}
		}
		return m, []blindCommand{dialTarget{transferer: in.transferer, transferee: in.transferee, destination: in.destination}}
	case mailboxChecked:
		if m.phase != blindCheckingMailbox {
			return m, nil // no mailbox being checked
		}
		if in.reason != "" {
			if m.byAsterisk {
				// The phone was told it worked and has left: ring the
				// transferer back (the refusal is already reported).
				m.phase, m.destination, m.reported = blindDiallingRecall, m.transferer, true
				return m, []blindCommand{dialRecall{exten: m.transferer, transferee: m.transferee}}
			}
			m.phase = blindRefused
			return m, []blindCommand{reportProgress{channel: m.referrer, state: progressDeclined}}
		}
		if in.dial != "" {
			// Another node hosts the mailbox: its voicemail is dialled
			// like a target; the transferer's phone is told once it
			// rings, and the transferer's own mailbox is the fallback.
			m.phase, m.elsewhere, m.destination = blindDiallingTarget, true, m.transferer
			return m, []blindCommand{dialMailbox{transferee: m.transferee, mailbox: in.mailbox, dial: in.dial}}
		}
		m.phase, m.destination = blindVoicemail, in.mailbox
		cmds := []blindCommand{reportOutcome{outcome: OutcomeCompleted}}
		if !m.byAsterisk {
			cmds = append(cmds, reportProgress{channel: m.referrer, state: progressAnswered}, letPhoneHangUp{channel: m.referrer})
		}
		return m, append(cmds, sendToVoicemail{channel: m.transferee, mailbox: in.mailbox})
	case targetNotDialled:
		if m.phase != blindDiallingTarget {
			return m, nil // no target being dialled
		}
		if m.byAsterisk || m.referrer == "" {
			// The phone was told it worked and has left (or no phone
			// asked: the voicemail of another node's mailbox for an
			// entry or the API, whose transferer is gone): rather than
			// drop the transferee, ring the transferer back, or else
			// send the transferee to the transferer's voicemail (the
			// fallback mailbox). (The failure is already reported.)
			if !m.elsewhere {
				m.destination = m.transferer
			}
			m.phase, m.reported = blindDiallingRecall, true
			return m, []blindCommand{dialRecall{exten: m.transferer, transferee: m.transferee}}
		}
		// Nothing has changed: the transferer's phone is told, and keeps
		// the transferee on hold (RFC 3515: a NOTIFY with the final
		// response).
		state := progressUnavailable
		if in.refused {
			state = progressDeclined
		}
		m.phase = blindRefused
		return m, []blindCommand{reportProgress{channel: m.referrer, state: state}}
	case targetDialled:
		if m.phase != blindDiallingTarget {
			return m, nil // no target being dialled
		}
		// The transferer's phone now sees the transfer succeed and hangs
		// up; its leg leaves so the transferee no longer hears it, and
		// the transferee hears ringing (with the transferer gone from the
		// bridge, it would hear silence).
		m.phase, m.target = blindRinging, in.target
		if !m.elsewhere {
			m.destination = in.destination
		}
		switch {
		case m.referrer == "" && m.held:
			// (Another node's voicemail for an entry: the transferee
			// keeps its music until the voicemail answers.)
			return m, nil
		case m.byAsterisk || m.referrer == "":
			return m, []blindCommand{startRingback{channel: m.transferee}}
		}
		return m, []blindCommand{reportProgress{channel: m.referrer, state: progressAnswered},
			letPhoneHangUp{channel: m.referrer}, stopHoldMusic{holder: m.referrer, held: m.transferee},
			startRingback{channel: m.transferee}}
	case targetRinging:
		// The owner starts a transfer's ringing only when none is under
		// way; it replaces whatever the machine held.
		m = blindMachine{policy: m.policy, phase: blindRinging,
			transferee: in.transferee, target: in.target, destination: in.destination,
			transferer: in.transferer, held: in.held}
		if in.recall {
			m.phase, m.recall = blindRecalling, true
		}
		if in.ringback {
			return m, []blindCommand{startRingback{channel: m.transferee}}
		}
		return m, nil
	case ringbackStarted:
		if !in.ok || (m.phase != blindRinging && m.phase != blindRecalling) {
			// A failed ringback changes nothing (the owner warns):
			// there is no ringing to stop.
			return m, nil
		}
		m.ringback = true
		return m, nil
	case targetAnswered:
		if (m.phase != blindRinging && m.phase != blindRecalling) || in.channel != m.target {
			return m, nil // not the ringing target's, or no longer ringing
		}
		cmds := m.stopRingback()
		m.ringback = false
		if m.held {
			m.phase = blindConnectingTransferee
			return m, append(cmds, stopMusic{channel: m.transferee}, joinBridge{channel: m.transferee})
		}
		m.phase = blindConnectingTarget
		return m, append(cmds, joinBridge{channel: m.target})
	case joined:
		switch {
		case m.phase == blindConnectingTransferee && in.channel == m.transferee:
			if !in.ok {
				m.phase = blindEnded
				return m, []blindCommand{endCall{}}
			}
			m.held, m.phase = false, blindConnectingTarget
			return m, []blindCommand{joinBridge{channel: m.target}}
		case m.phase == blindConnectingTarget && in.channel == m.target:
			if !in.ok {
				m.phase = blindEnded
				return m, []blindCommand{endCall{}}
			}
			// The transferee's phone still shows the transferer: tell it
			// who it talks to now. (The target's phone showed the
			// transferee from its first ring.)
			outcome := OutcomeCompleted
			if m.recall {
				outcome = OutcomeRecalled
			}
			m.phase = blindCompleted
			cmds := []blindCommand{showConnected{viewer: m.transferee, party: m.target}}
			if !m.reported {
				cmds = append(cmds, reportAnswered{}, reportOutcome{outcome: outcome})
			}
			return m, append(cmds, talkToTarget{target: m.target})
		}
		return m, nil // no join asked for
	case targetFailed:
		if (m.phase != blindRinging && m.phase != blindRecalling) || in.channel != m.target {
			// A Dial status of a target already given up on (it hung up
			// first, or a recall replaced it): nothing more to decide.
			return m, nil
		}
		return m.targetUnavailable(in.status)
	case legHungUp:
		if !m.active() {
			return m, nil
		}
		switch in.channel {
		case m.transferee:
			// The transferee hung up: the target stops ringing. (Nobody
			// hears the ringback any more.)
			m.phase, m.ringback = blindEnded, false
			return m, []blindCommand{endCall{}}
		case m.target:
			if m.phase != blindRinging && m.phase != blindRecalling {
				return m, nil
			}
			if !in.answered {
				// The target's phone rejected the call before a Dial
				// status said why: decide from the hangup cause.
				return m.targetUnavailable(dialStatusFromCause(in.cause))
			}
			// (The ringback stops as the call ends: callEnded.)
			m.phase = blindEnded
			return m, []blindCommand{endCall{}}
		}
		// The transferer hanging up is the normal end of its part.
		return m, nil
	case mailboxElsewhere:
		// The owner asks only when no transfer is under way; it replaces
		// whatever the machine held.
		m = blindMachine{policy: m.policy, phase: blindDiallingTarget, elsewhere: true, transferee: in.transferee,
			transferer: in.transferer, destination: in.fallback, held: in.held}
		return m, []blindCommand{dialMailbox{transferee: in.transferee, mailbox: in.mailbox, dial: in.dial}}
	case recallRequested:
		// The owner asks only when no transfer is under way; it replaces
		// whatever the machine held.
		m = blindMachine{policy: m.policy, phase: blindDiallingRecall, transferee: in.transferee,
			transferer: in.transferer, destination: in.mailbox}
		return m, []blindCommand{dialRecall{exten: in.transferer, transferee: in.transferee}}
	case recallDialled:
		if m.phase != blindDiallingRecall {
			return m, nil // no recall asked for
		}
		if in.reason != "" {
			if m.destination == "" {
				// No mailbox either (it was tried first): the call ends.
				m.phase = blindEnded
				return m, []blindCommand{endCall{}}
			}
			// Nobody to ring back: the target's voicemail after all.
			return m.toVoicemail(m.destination)
		}
		m.phase, m.target, m.recall = blindRecalling, in.channel, true
		return m, []blindCommand{startRingback{channel: m.transferee}}
	case partyReplaced:
		// Asterisk put a channel of its own in a party's place (a
		// transfer it performed itself, core handling): the transfer
		// follows the party.
		if !m.active() || (in.old != m.transferee && in.old != m.target) {
			return m, nil
		}
		if m.transferee == in.old {
			m.transferee = in.new
		}
		if m.target == in.old {
			m.target = in.new
		}
		return m, nil
	case callEnded:
		// (The owner says so only while the transferee is still there.)
		// The ringback it hears stops, also when the machine itself
		// asked to end the call (endCall) while it rang back.
		if !m.active() && !m.ringback {
			return m, nil
		}
		cmds := m.stopRingback()
		m.ringback = false
		if m.active() {
			m.phase = blindEnded
		}
		return m, cmds
	}
	return m, nil
}
