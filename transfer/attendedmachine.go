package transfer

import "fmt"

// An attended (two-step) transfer: the transferer pressed Tran (the
// transferee, held, hears music), called a colleague in a second call,
// the consultation, and pressed Tran again: a REFER with Replaces naming
// the consultation leg (or, under core handling, Asterisk linked the two
// calls itself). The call that received the REFER asks the consultation
// call to hand itself over (askHandOver); that call checks the request
// and either refuses (handOverRefused) or merges into this one, legs and
// all (consultationMerged). Then the transferee and the colleague talk, or
// the colleague, still ringing, rings on for the transferee under the
// blind transfer's rules. A transferer who hangs up instead of pressing
// Tran completes the same way (or, configured so, is rung back).
//
// attendedMachine is the receiving call's side as a pure state machine,
// (state, input) → (next state, commands), like the blind transfer's
// (blindmachine.go): no I/O, no clock, no timer, no goroutine. The owner
// feeds it the REFER, the consultation call's answer, the results of its
// requests, hangups and the timer it asked for, and executes the commands
// (call.stepAttended in attended.go). A command with a result
// (askHandOver, completeAtOnce, joinBridge) is always the last of its
// batch. Its inputs and commands are in attendedwords.go; the transcripts
// in testdata/attended_transfer tell its behaviour as stories.

// attendedPhase is where an attended transfer is, as its parties
// experience it.
type attendedPhase int

const (
	// attendedNone: no attended transfer has started on the call.
	attendedNone attendedPhase = iota
	// attendedAsking: the consultation call is being asked to hand
	// itself over (askHandOver); its result is the next input.
	attendedAsking
	// attendedAwaiting: the consultation call has the request; the
	// transferer's phone waits for its NOTIFY, the transferee on hold.
	attendedAwaiting
	// attendedRefused: the transfer could not be done; the transferer's
	// phone was told (it keeps both calls), or, core handling, the
	// transferer is rung back.
	attendedRefused
	// attendedCompleting: the colleague is joining the transferee while
	// the transferer's legs leave (completeAtOnce).
	attendedCompleting
	// attendedReturning: the colleague hung up as the transfer
	// completed; the transferer's leg rejoins the transferee.
	attendedReturning
	// attendedTelling: done; the transferer's phone is told once Asterisk
	// has destroyed the consultation leg its Replaces named (see
	// destroyWait in attended.go for why), or when that takes too long.
	attendedTelling
	// attendedCompleted: the transferee talks to the colleague.
	attendedCompleted
	// attendedColleagueRinging: the transfer completed while the
	// colleague still rings; the blind transfer's machine has it now.
	attendedColleagueRinging
	// attendedReturned: the transfer failed at completion; the
	// transferee is back with the transferer, whose phone was told.
	attendedReturned
	// attendedAskingToEnd: the transferer hung up and is to be rung back;
	// the consultation is being asked to end.
	attendedAskingToEnd
	// attendedRecalling: the transferer's phone rings back for the
	// transferee (the blind transfer's machine has it now).
	attendedRecalling
	// attendedEnded: the call ended during the transfer.
	attendedEnded
)

var attendedPhaseNames = [...]string{"none", "asking", "awaiting-consultation", "refused", "completing", "returning",
	"telling-transferer", "completed", "colleague-ringing", "returned", "asking-to-end", "recalling", "ended"}

func (p attendedPhase) String() string {
	if int(p) < len(attendedPhaseNames) {
		return attendedPhaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// attendedMachine is a call's attended transfer. Its zero value has none.
type attendedMachine struct {
	phase           attendedPhase
	transferer      string // the channel that sent the REFER (or Asterisk's Local link)
	transfererExten string
	transferee      string
	bridge          string // the call's bridge
	consultation    string // the consultation call's id
	byAsterisk      bool   // core handling: Asterisk told the phone itself
	// transfererGone: the transferer's phone hung up (phones often do
	// right after a REFER); the transfer carries on without it.
	transfererGone bool

	// From the merge on: the consultation's bridge, the transferer's
	// consultation leg and the colleague.
	consultBridge  string
	consult        string
	colleague      string
	colleagueExten string
	consultLive    bool // the consultation leg has not been hung up
	// consultHungUpAtOnce: completeAtOnce hung the consultation leg up
	// (it was live at the merge).
	consultHungUpAtOnce bool

	// While telling: the progress owed, whether to let the transferer's
	// phone hang up after, then whether the tidying of a completed
	// transfer follows (tidyAfter), and the phase after.
	tell      string
	tellHangs bool
	tidyAfter bool
	next      attendedPhase
}

// busy reports whether a transfer is under way: a second is declined.
func (m attendedMachine) busy() bool {
	switch m.phase {
	case attendedAsking, attendedAwaiting, attendedCompleting, attendedReturning, attendedAskingToEnd:
		return true
	}
	return false
}

// telling reports whether a transferer's phone is owed its outcome.
func (m attendedMachine) telling() bool { return m.phase == attendedTelling }

// engaged reports whether a new attended transfer must be declined: one
// is under way, or the last one's phone is still owed its outcome (a new
// transfer replaced the machine, and that phone was never told: engine
// fuzz).
func (m attendedMachine) engaged() bool { return m.busy() || m.telling() }

// awaitsTransferer reports whether channel is the transferer of a transfer
// under way: its hangup does not end the call.
func (m attendedMachine) awaitsTransferer(channel string) bool {
	return m.busy() && m.phase != attendedAskingToEnd && channel == m.transferer
}

func (m attendedMachine) String() string {
	switch m.phase {
	case attendedNone, attendedEnded:
		return m.phase.String()
	}
	s := m.phase.String() + " transferer=" + m.transferer + " transferee=" + m.transferee
	if m.colleague != "" {
		s += " colleague=" + m.colleague
	}
	if m.phase == attendedTelling {
		s += " owed=" + m.tell + " then=" + m.next.String()
	}
	if m.transfererGone {
		s += " transferer-gone"
	}
	if m.byAsterisk {
		s += " by-asterisk"
	}
	return s
}

// Step applies one input: it returns the transfer's next state and what
// the owner must do, in order. An input a state does not take leaves the
// machine as it is and asks for nothing.
func (m attendedMachine) Step(in attendedInput) (attendedMachine, []attendedCommand) {
	switch in := in.(type) {
	case attendedReferred:
		return m.referred(in)
	case transfererLeftHolding:
		if m.engaged() {
			return m, nil // (the owner ends the call instead)
		}
		m = attendedMachine{transferer: in.transferer.channel, transfererExten: in.transferer.exten,
			transferee: in.transferee, bridge: in.bridge, consultation: in.consultation, transfererGone: true}
		m.phase = attendedAsking
		if in.recall {
			m.phase = attendedAskingToEnd
		}
		return m, []attendedCommand{reportStarted{transferer: m.transferer, transferee: m.transferee},
			askHandOver{consultation: m.consultation, transfererExten: m.transfererExten, end: in.recall}}
	case handOverAsked:
		switch m.phase {
		case attendedAsking:
			if !in.ok {
				// The consultation call's owner had already finished (its
				// colleague hung up as the REFER came): nobody would
				// answer, and the phone would wait for its NOTIFY forever.
				return m.refused("the consultation call has ended", true)
			}
			m.phase = attendedAwaiting
			return m, nil
		case attendedAskingToEnd:
			// (Whether or not it got there: the consultation ends by
			// itself once its colleague is alone.)
			m.phase = attendedRecalling
			return m, []attendedCommand{ringTransfererBack{transferer: m.transferer, transferee: m.transferee}}
		}
		return m, nil
	case handOverRefused:
		if m.phase != attendedAwaiting {
			return m, nil
		}
		return m.refused(in.reason, in.unavailable)
	case consultationMerged:
		return m.merged(in)
	case completedAtOnce:
		if m.phase != attendedCompleting {
			return m, nil
		}
		if !in.joined {
			return m.colleagueLeftAtCompletion(in.colleagueLive)
		}
		m.consultLive = false // (hung up at once, if it was live)
		cmds := []attendedCommand{talkTo{transferee: m.transferee, colleague: m.colleague},
			reportOutcome{outcome: OutcomeCompleted, destination: m.colleagueExten}}
		m.next = attendedCompleted
		return m.release(cmds, m.consultHungUpAtOnce, true)
	case joined:
		if m.phase != attendedReturning || in.channel != m.transferer {
			return m, nil
		}
		if !in.ok {
			m.phase = attendedEnded
			return m, []attendedCommand{endCall{}}
		}
		cmds := []attendedCommand{musicWhileHeld{holder: m.transferer, held: m.transferee}}
		if m.tell != "" {
			// The consultation leg was hung up at once: the phone hears
			// once it is destroyed.
			m.phase, m.next, m.tellHangs = attendedTelling, attendedReturned, false
			return m, append(cmds, startTellTimer{consult: m.consult})
		}
		m.phase = attendedReturned
		return m, append(cmds, reportProgress{channel: m.transferer, state: progressUnavailable})
	case legHungUp:
		if in.channel == m.transferer && !m.transfererGone && (m.busy() || m.telling()) {
			m.transfererGone = true
			return m, nil
		}
		return m, nil
	case consultDestroyed:
		if m.phase != attendedTelling || in.channel != m.consult {
			return m, nil
		}
		return m.tellTransferer(true)
	case tellDue:
		if m.phase != attendedTelling || in.consult != m.consult {
			return m, nil
		}
		return m.tellTransferer(true)
	case tellNow:
		if m.phase != attendedTelling {
			return m, nil
		}
		return m.tellTransferer(true)
	case partyReplaced:
		// Asterisk put a channel of its own in a party's place (core
		// handling): the transfer follows the party.
		for _, id := range []*string{&m.transferer, &m.transferee, &m.consult, &m.colleague} {
			if *id == in.old && in.old != "" {
				*id = in.new
				return m, nil
			}
		}
		return m, nil
	case callEnded:
		switch {
		case m.telling():
			// Told before the legs go; the displays no longer matter.
			m, cmds := m.tellTransferer(false)
			m.phase = attendedEnded
			return m, cmds
		case m.busy():
			m.phase = attendedEnded
			return m, nil
		}
		return m, nil
	}
	return m, nil
}

// referred starts an attended transfer, or refuses it at once.
func (m attendedMachine) referred(in attendedReferred) (attendedMachine, []attendedCommand) {
	if in.byAsterisk && (m.engaged() || in.consultation == "") {
		// Asterisk linked the calls and told the phone it worked: the
		// link comes out and the transferer is rung back.
		return m, []attendedCommand{unlink{channel: in.transferer.channel}}
	}
	if m.engaged() {
		return m, []attendedCommand{reportProgress{channel: in.transferer.channel, state: progressDeclined}}
	}
	reason := ""
	switch {
	case in.byAsterisk:
	case in.consultID == "":
		// Not a call on this PBX (or one that has ended).
		reason = "Replaces names no call Asterisk knows"
	case in.consultation == "":
		reason = "Replaces names a call transferd does not handle"
	}
	if reason != "" {
		m = attendedMachine{phase: attendedRefused, transferer: in.transferer.channel, transferee: in.transferee}
		return m, []attendedCommand{reportRefused{transferer: in.transferer.channel, reason: reason},
			reportProgress{channel: in.transferer.channel, state: progressUnavailable}}
	}
	m = attendedMachine{phase: attendedAsking, transferer: in.transferer.channel, transfererExten: in.transferer.exten,
		transferee: in.transferee, bridge: in.bridge, consultation: in.consultation, byAsterisk: in.byAsterisk}
	return m, []attendedCommand{reportStarted{transferer: m.transferer, transferee: m.transferee},
		askHandOver{consultation: m.consultation, consultID: in.consultID, transfererExten: m.transfererExten}}
}

// refused: the consultation cannot be handed over; the transferer's
// phone is told and keeps both calls.
func (m attendedMachine) refused(reason string, unavailable bool) (attendedMachine, []attendedCommand) {
	cmds := []attendedCommand{reportOutcome{outcome: OutcomeRefused, reason: reason}}
	switch {
	case m.byAsterisk && !m.transfererGone:
		// Asterisk linked the calls itself and told the phone it worked.
		m.phase = attendedRefused
		return m, append(cmds, unlink{channel: m.transferer})
	case m.transfererGone:
		// Nobody to tell; the transferer is gone, so is the call.
		m.phase = attendedEnded
		return m, append(cmds, endCall{})
	}
	state := progressDeclined
	if unavailable {
		state = progressUnavailable
	}
	m.phase = attendedRefused
	return m, append(cmds, reportProgress{channel: m.transferer, state: state})
}

// merged completes the transfer with the consultation's legs in hand.
func (m attendedMachine) merged(in consultationMerged) (attendedMachine, []attendedCommand) {
	if m.phase != attendedAwaiting || !in.canComplete {
		// The transferee left (or is leaving): the call ends, and goes
		// on as the consultation call.
		var cmds []attendedCommand
		if m.phase == attendedAwaiting && !m.transfererGone {
			cmds = append(cmds, reportProgress{channel: m.transferer, state: progressDeclined})
		}
		return attendedMachine{}, append(cmds, endCall{}, carryOn{consultation: in.consultation})
	}
	m.consultBridge, m.consult, m.consultLive = in.bridge, in.consult, in.consultLive
	m.colleague, m.colleagueExten = in.colleague.channel, in.colleague.exten
	if in.talking {
		m.phase = attendedCompleting
		consult := ""
		if in.consultLive {
			consult, m.consultHungUpAtOnce = m.consult, true
		}
		return m, []attendedCommand{completeAtOnce{bridge: m.bridge, consult: consult, transferer: m.transferer, colleague: m.colleague}}
	}
	return m.colleagueRings(in)
}
