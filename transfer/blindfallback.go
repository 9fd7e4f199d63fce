package transfer

// The blind transfer's machine (blindmachine.go) when its target fails:
// the transferer rung back, or the transferee sent to a voicemail.

// targetUnavailable: the target is busy, did not answer or does not
// exist. Ring the transferer back, or send the transferee to the target's
// voicemail (after a recall: the transferer's), as configured. Another
// node's voicemail that fails always has the transferer rung back, then
// the fallback mailbox (destination) take the transferee.
func (m blindMachine) targetUnavailable(status string) (blindMachine, []blindCommand) {
	cmds := m.stopRingback()
	m.ringback = false
	m.status = status
	if (m.policy.recallOnNoAnswer || m.elsewhere) && !m.recall && m.transferer != "" {
		m.phase = blindDiallingRecall
		return m, append(cmds, dialRecall{exten: m.transferer, transferee: m.transferee})
	}
	mailbox := m.destination
	if m.recall && !m.elsewhere {
		mailbox = m.transferer
	}
	if mailbox == "" {
		// (Another node's voicemail failed, with neither a transferer
		// to ring back nor a fallback mailbox.)
		m.phase = blindEnded
		return m, append(cmds, endCall{})
	}
	m, more := m.toVoicemail(mailbox)
	return m, append(cmds, more...)
}

func (m blindMachine) toVoicemail(mailbox string) (blindMachine, []blindCommand) {
	var cmds []blindCommand
	if !m.reported {
		reason := "target " + m.status
		if m.status == "" {
			reason = "the transferer could not be rung back"
		}
		cmds = append(cmds, reportOutcome{outcome: OutcomeVoicemail, reason: reason})
	}
	if m.held {
		cmds = append(cmds, stopMusic{channel: m.transferee})
	}
	m.phase = blindVoicemail
	return m, append(cmds, sendToVoicemail{channel: m.transferee, mailbox: mailbox})
}

func (m blindMachine) stopRingback() []blindCommand {
	if !m.ringback {
		return nil
	}
	return []blindCommand{stopRingback{channel: m.transferee}}
}
