package transfer

// The attended transfer's machine (attendedmachine.go) once the
// consultation has merged in: completing while the colleague rings,
// releasing the transferer, telling its phone, tidying up, and the
// colleague who left at the instant of completion.

// colleagueRings: completed while the colleague still rings. The
// transferee hears ringback and the blind transfer's rules apply from
// here; the transferer's first leg leaves the held call, the consultation
// bridge goes.
func (m attendedMachine) colleagueRings(in consultationMerged) (attendedMachine, []attendedCommand) {
	cmds := []attendedCommand{leaveBridge{bridge: m.bridge, channel: m.transferer},
		stopHoldMusic{holder: m.transferer, held: m.transferee}}
	if in.colleagueInBridge {
		cmds = append(cmds, leaveBridge{bridge: in.bridge, channel: m.colleague})
	}
	cmds = append(cmds, leaveBridge{bridge: in.bridge, channel: m.consult}, destroyBridge{bridge: in.bridge},
		ringColleague{transferee: m.transferee, colleague: in.colleague, transferer: m.transfererExten})
	if in.consultLive && in.consultUnanswered {
		// The transferer's consultation call never connected. Hung up as
		// it is, chan_pjsip would end it with 603 Decline (its answer for
		// any cause it has no SIP code for; none of ARI's hangup reasons
		// gives 487), and the phone shows "Call declined" for a transfer
		// that worked. Answered first, it ends with a BYE like any
		// completed transfer's call.
		cmds = append(cmds, answerLeg{channel: m.consult})
	}
	m.next = attendedColleagueRinging
	return m.release(cmds, false, false)
}

// release tells the transferer's phone that its transfer worked and
// hangs up its leg(s) for it, as after Asterisk's own transfers: the
// consultation leg first (consultHungUp: it has just been). tidy: the
// consultation's remains go once the phone has been told.
func (m attendedMachine) release(cmds []attendedCommand, consultHungUp, tidy bool) (attendedMachine, []attendedCommand) {
	if m.consultLive {
		cmds = append(cmds, hangupLeg{channel: m.consult})
		m.consultLive, consultHungUp = false, true
	}
	switch {
	case m.transfererGone || m.byAsterisk:
		// Nobody to tell, or (core handling) Asterisk told the phone.
		if !m.transfererGone {
			cmds = append(cmds, hangupLeg{channel: m.transferer})
		}
		m.phase = m.next
	case consultHungUp:
		// The REFER's Replaces named the consultation leg: the phone is
		// told once Asterisk has destroyed it.
		m.phase, m.tell, m.tellHangs, m.tidyAfter = attendedTelling, progressAnswered, true, tidy
		cmds = append(cmds, startTellTimer{consult: m.consult})
		tidy = false
	default:
		cmds = append(cmds, reportProgress{channel: m.transferer, state: progressAnswered},
			letPhoneHangUp{channel: m.transferer})
		m.phase = m.next
	}
	if m.byAsterisk {
		// Asterisk has told the phone and hung up the consultation leg;
		// the leg that received the REFER is left.
		cmds = append(cmds, hangupReplaced{})
	}
	if tidy {
		cmds = append(cmds, m.tidy(true)...)
	}
	return m, cmds
}

// tidy is what the phones do not wait for after a completed transfer:
// the hold music stopped (Asterisk does not always), the emptied
// consultation bridge destroyed and, while the call goes on, both
// displays updated (Asterisk's own transfers never update the caller's).
func (m attendedMachine) tidy(displays bool) []attendedCommand {
	cmds := []attendedCommand{stopHoldMusic{holder: m.transferer, held: m.transferee}, destroyBridge{bridge: m.consultBridge}}
	if displays {
		cmds = append(cmds, showConnected{viewer: m.transferee, party: m.colleague},
			showConnected{viewer: m.colleague, party: m.transferee})
	}
	return cmds
}

// tellTransferer tells the transferer's phone its outcome now (unless it
// hung up), then tidies after a completed transfer.
func (m attendedMachine) tellTransferer(displays bool) (attendedMachine, []attendedCommand) {
	cmds := []attendedCommand{stopTellTimer{consult: m.consult}}
	if !m.transfererGone {
		cmds = append(cmds, reportProgress{channel: m.transferer, state: m.tell})
		if m.tellHangs {
			cmds = append(cmds, letPhoneHangUp{channel: m.transferer})
		}
	}
	if m.tidyAfter {
		cmds = append(cmds, m.tidy(displays)...)
	}
	m.phase, m.tell, m.tellHangs, m.tidyAfter = m.next, "", false, false
	return m, cmds
}

// colleagueLeftAtCompletion: the colleague hung up in the instant the
// transferer completed (its REFER crossed the colleague's BYE), so it
// could not join the transferee. The transfer failed, and the transferee
// must not be dropped for it: the transferer's leg goes back to the
// transferee, who hears music on hold again (the phone still holds), and
// the phone is told 503, as for a colleague who left before the REFER:
// its user resumes the caller.
func (m attendedMachine) colleagueLeftAtCompletion(colleagueLive bool) (attendedMachine, []attendedCommand) {
	cmds := []attendedCommand{returnTo{transferee: m.transferee, transferer: m.transferer}}
	if colleagueLive {
		cmds = append(cmds, hangupLeg{channel: m.colleague})
	}
	cmds = append(cmds, destroyBridge{bridge: m.consultBridge},
		reportOutcome{outcome: OutcomeFailed, reason: "the colleague hung up as the transfer completed"})
	if m.transfererGone {
		// Nobody is left to take the transferee back.
		m.phase = attendedEnded
		return m, append(cmds, endCall{})
	}
	if m.consultHungUpAtOnce {
		m.tell = progressUnavailable
	}
	m.phase = attendedReturning
	return m, append(cmds, joinBridge{channel: m.transferer})
}
