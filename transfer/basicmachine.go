package transfer

import (
	"fmt"
	"strconv"
)

// A basic call, from the moment a phone's call enters Stasis until its
// two parties talk, or it fails the way a PBX user expects: the dialled
// extension is routed, the call's bridge created, the callee's channel
// created and, once in Stasis, put in the bridge and dialled, while the
// caller hears ringback. When the callee answers, the caller is answered
// and joins it. A callee that is busy, congested, does not answer or is
// not registered ends the call with the matching signal (486, 503, ...),
// or sends the caller to its voicemail when configured so; a number
// nobody has gets 404.
//
// basicMachine is that part of the call as a pure state machine, like the
// transfers' (blindmachine.go, attendedmachine.go): no I/O, no clock, no
// goroutine. The owner feeds it the arrival, the results of the requests
// it asked for, answers, Dial statuses and hangups, and executes its
// commands (call.stepBasic in call.go). A command with a result is always
// the last of its batch. Once the call talks, the transfers' machines and
// the owner take it from there. Its inputs and commands are in
// basicwords.go; the transcripts in testdata/basic_call tell its
// behaviour as stories.

// basicPhase is where a basic call is, as its parties experience it.
type basicPhase int

const (
	// basicNone: no call yet.
	basicNone basicPhase = iota
	// basicRouting: the dialled extension is looked up (routeCallee).
	basicRouting
	// basicCreatingBridge: the call's bridge is created.
	basicCreatingBridge
	// basicCreatingCallee: the callee's channel is created.
	basicCreatingCallee
	// basicCheckingEndpoint: the callee's channel could not be created;
	// is its endpoint there at all (not registered) or not (no such
	// number)?
	basicCheckingEndpoint
	// basicRinging: the caller hears ringback while the callee rings.
	basicRinging
	// basicPlacingCallee: the callee's channel, in Stasis, joins the
	// bridge to ring there (a failed join only means it rings outside).
	basicPlacingCallee
	// basicDiallingCallee: the callee's channel is dialled.
	basicDiallingCallee
	// basicAnsweringCaller: the callee answered; the caller's channel is
	// answered.
	basicAnsweringCaller
	// basicJoiningCaller, basicJoiningCallee: the two join the bridge.
	basicJoiningCaller
	basicJoiningCallee
	// basicTalking: caller and callee talk; the call goes on beyond this
	// machine.
	basicTalking
	// basicVoicemail: the caller was sent to the callee's voicemail.
	basicVoicemail
	// basicFailed: the call ended without its parties talking.
	basicFailed
)

var basicPhaseNames = [...]string{"none", "routing", "creating-bridge", "creating-callee", "checking-endpoint",
	"ringing", "placing-callee", "dialling-callee", "answering-caller", "joining-caller", "joining-callee",
	"talking", "voicemail", "failed"}

func (p basicPhase) String() string {
	if int(p) < len(basicPhaseNames) {
		return basicPhaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// basicMachine is a call's setup. newBasicMachine sets the policy.
type basicMachine struct {
	// voicemailOnNoAnswer: the configured policy (NoAnswer) sends the
	// caller to the callee's voicemail when it does not answer or is not
	// registered, rather than ending the call.
	voicemailOnNoAnswer bool

	phase      basicPhase
	caller     string
	dialled    string
	dialString string
	callee     string
	// calleeInBridge: the callee rings in the call's bridge (so only the
	// caller joins when it answers).
	calleeInBridge bool
	// plainBridge: a plain bridge serves both parties (neither keys the
	// voicemail code during the call, or their digits come as SIP INFO),
	// so it need not hear DTMF.
	plainBridge bool
	reason      string // why the call failed
}

func newBasicMachine(voicemailOnNoAnswer bool) basicMachine {
	return basicMachine{voicemailOnNoAnswer: voicemailOnNoAnswer}
}

// settingUp reports whether the call is not yet talking nor over.
func (m basicMachine) settingUp() bool { return m.phase > basicNone && m.phase < basicTalking }

func (m basicMachine) String() string {
	switch m.phase {
	case basicNone:
		return m.phase.String()
	case basicFailed:
		return "failed " + strconv.Quote(m.reason)
	}
	s := m.phase.String() + " caller=" + m.caller + " dialled=" + strconv.Quote(m.dialled)
	if m.callee != "" {
		s += " callee=" + m.callee
	}
	if m.calleeInBridge {
		s += " callee-in-bridge"
	}
	if m.plainBridge {
		s += " plain-bridge"
	}
	return s
}

// Step applies one input: it returns the call's next state and what the
// owner must do, in order. An input a state does not take leaves the
// machine as it is and asks for nothing.
func (m basicMachine) Step(in basicInput) (basicMachine, []basicCommand) {
	switch in := in.(type) {
	case callerArrived:
		if m.phase != basicNone {
			return m, nil
		}
		m.phase, m.caller, m.dialled = basicRouting, in.caller.channel, in.dialled
		m.plainBridge = in.callerPlain && in.dialledPlain
		var cmds []basicCommand
		if in.clearTimeout {
			cmds = append(cmds, clearWaitTimeout{channel: m.caller})
		}
		cmds = append(cmds, markCaller{channel: m.caller})
		if in.core {
			cmds = append(cmds, setCoreHandling{channel: m.caller})
		}
		return m, append(cmds, routeCallee{exten: m.dialled})
	case ringingAdopted:
		if m.phase != basicNone {
			return m, nil
		}
		m.phase, m.caller, m.callee, m.dialled, m.calleeInBridge = basicRinging, in.caller, in.callee, in.dialled, in.calleeInBridge
		return m, nil
	case calleeRouted:
		if m.phase != basicRouting {
			return m, nil
		}
		if in.reason != "" {
			return m.fail("unallocated") // not in service
		}
		m.phase, m.dialString = basicCreatingBridge, in.dialString
		return m, []basicCommand{createBridge{plain: m.plainBridge}}
	case bridgeCreated:
		if m.phase != basicCreatingBridge {
			return m, nil
		}
		if !in.ok {
			return m.fail("congestion")
		}
		m.phase = basicCreatingCallee
		return m, []basicCommand{createCallee{exten: m.dialled, dialString: m.dialString}}
	case calleeDialled:
		if m.phase != basicCreatingCallee {
			return m, nil
		}
		if in.reason != "" {
			m.phase = basicCheckingEndpoint
			return m, []basicCommand{checkEndpoint{dialString: m.dialString}}
		}
		m.phase, m.callee = basicRinging, in.channel
		return m, []basicCommand{startRingback{channel: m.caller}}
	case endpointChecked:
		if m.phase != basicCheckingEndpoint {
			return m, nil
		}
		if !in.exists {
			return m.fail("unallocated")
		}
		return m.calleeUnavailable("CHANUNAVAIL") // not registered
	case calleeInStasis:
		if m.phase != basicRinging || in.channel != m.callee {
			return m, nil
		}
		// The callee rings in the call's bridge, alone there until it
		// answers. Dialled outside any bridge, Asterisk would hold it in
		// its one shared dial bridge, where each channel joining or
		// leaving resets BRIDGEPEER and BRIDGEPVTCALLID on every channel
		// ringing there: with many calls ringing at once, a quadratic
		// flood of events for the app, whose backlog then makes PJSIP
		// ignore new INVITEs (Asterisk's overload protection; load
		// harness).
		m.phase = basicPlacingCallee
		return m, []basicCommand{joinBridge{channel: m.callee}}
	case joined:
		switch {
		case m.phase == basicPlacingCallee && in.channel == m.callee:
			// No "caller" channel is given to the dial: Asterisk would
			// cancel it when that channel hangs up.
			m.phase, m.calleeInBridge = basicDiallingCallee, in.ok
			return m, []basicCommand{dialCallee{channel: m.callee}}
		case m.phase == basicJoiningCaller && in.channel == m.caller:
			if !in.ok {
				return m.end()
			}
			if !m.calleeInBridge {
				m.phase = basicJoiningCallee
				return m, []basicCommand{joinBridge{channel: m.callee}}
			}
			m.phase = basicTalking
			return m, []basicCommand{nowTalking{}}
		case m.phase == basicJoiningCallee && in.channel == m.callee:
			if !in.ok {
				return m.end()
			}
			m.phase, m.calleeInBridge = basicTalking, true
			return m, []basicCommand{nowTalking{}}
		}
		return m, nil
	case calleeRang:
		if m.phase != basicDiallingCallee {
			return m, nil
		}
		if !in.ok {
			m.phase = basicRinging
			m, cmds := m.calleeUnavailable("CHANUNAVAIL")
			return m, append([]basicCommand{hangupLeg{channel: m.callee}}, cmds...)
		}
		m.phase = basicRinging
		return m, nil
	case calleeAnswered:
		if !m.ringing() || in.channel != m.callee {
			return m, nil
		}
		m.phase = basicAnsweringCaller
		return m, []basicCommand{answerCaller{channel: m.caller}}
	case callerAnswered:
		if m.phase != basicAnsweringCaller {
			return m, nil
		}
		if !in.ok {
			return m.end()
		}
		m.phase = basicJoiningCaller
		return m, []basicCommand{joinBridge{channel: m.caller}}
	case calleeFailed:
		if !m.ringing() {
			return m, nil
		}
		return m.calleeUnavailable(in.status)
	case legHungUp:
		if !m.settingUp() {
			return m, nil
		}
		switch in.channel {
		case m.caller:
			return m.end() // the callee stops ringing
		case m.callee:
			if in.answered {
				return m.end()
			}
			// The callee's phone rejected the call before a Dial status
			// said why: decide from the hangup cause.
			return m.calleeUnavailable(dialStatusFromCause(in.cause))
		}
		return m, nil
	case partyReplaced:
		// Asterisk put a channel of its own in a party's place (core
		// handling): the call follows the party.
		switch in.old {
		case "":
			return m, nil
		case m.caller:
			m.caller = in.new
		case m.callee:
			m.callee = in.new
		}
		return m, nil
	case callEnded:
		if m.settingUp() {
			m.phase, m.reason = basicFailed, "ended"
		}
		return m, nil
	}
	return m, nil
}

// ringing: the callee rings (its channel may still be joining the bridge
// or being dialled).
func (m basicMachine) ringing() bool {
	return m.phase == basicRinging || m.phase == basicPlacingCallee || m.phase == basicDiallingCallee
}

// calleeUnavailable ends an unanswered call the way a PBX user expects.
func (m basicMachine) calleeUnavailable(status string) (basicMachine, []basicCommand) {
	switch status {
	case "BUSY":
		return m.fail("busy")
	case "CONGESTION":
		return m.fail("congestion")
	}
	// NOANSWER, CHANUNAVAIL (phone not registered).
	if m.voicemailOnNoAnswer {
		m.phase = basicVoicemail
		return m, []basicCommand{sendToVoicemail{channel: m.caller, mailbox: m.dialled}}
	}
	return m.fail("no_answer")
}

// fail ends the call, the caller hung up with reason.
func (m basicMachine) fail(reason string) (basicMachine, []basicCommand) {
	m.phase, m.reason = basicFailed, reason
	return m, []basicCommand{failCall{reason: reason}}
}

// end ends the call: the owner hangs up what is left.
func (m basicMachine) end() (basicMachine, []basicCommand) {
	m.phase, m.reason = basicFailed, "ended"
	return m, []basicCommand{endCall{}}
}
