package transfer

import (
	"fmt"
	"strconv"
)

// Once the voicemail entry (vmentry.go) has its number, the held party
// goes to that mailbox, if the policy allows it and it exists. Otherwise
// a user still on the line hears "invalid" and the call resumes; a user
// who hung up has the party sent to the fallback mailbox instead, and
// should that not exist either, the user's phone is rung back rather
// than the caller dropped. A mailbox another node hosts is that node's
// to check: its voicemail is dialled over the trunk and the blind
// transfer's machine takes over (mailboxElsewhere, blindmachine.go).
//
// vmFinish is that decision as a pure machine, like the others: the owner
// checks mailboxes (checkEntryMailbox) and feeds the results back
// (call.stepFinish in voicemail.go); the transcripts in
// testdata/voicemail_finish tell it.

// finishPhase is where the finishing is.
type finishPhase int

const (
	finishNone finishPhase = iota
	// finishCheckingMailbox: the keyed mailbox is checked.
	finishCheckingMailbox
	// finishCheckingFallback: the user hung up and the keyed mailbox
	// cannot be used: the fallback mailbox is checked.
	finishCheckingFallback
	// finishRejoining: the held party rejoins the bridge (the call
	// resumes, or waits there for the user rung back).
	finishRejoining
	// finishDone: the held party is in a mailbox, back in the call, or
	// waiting for the user's phone rung back.
	finishDone
)

var finishPhaseNames = [...]string{"none", "checking-mailbox", "checking-fallback", "rejoining", "done"}

func (p finishPhase) String() string { return finishPhaseNames[p] }

// vmFinish is the finishing of a call's voicemail entry.
type vmFinish struct {
	phase       finishPhase
	user        party
	held        string
	userPresent bool
	keyed       string // the mailbox number keyed
	fallback    string // the fallback mailbox, for a user who hung up
	reason      string // why the keyed mailbox could not be used
	recall      bool   // the user's phone is to be rung back after rejoining
}

func (m vmFinish) String() string {
	if m.phase == finishNone {
		return m.phase.String()
	}
	s := m.phase.String() + " held=" + m.held + " user=" + m.user.String()
	if !m.userPresent {
		s += " user-gone"
	}
	return s
}

// A finishInput is what the finishing learns.
type finishInput interface {
	fmt.Stringer
	finishInput()
}

// finishStarted: the entry's number is complete (finishEntry), with the
// fallback mailbox the configuration gives for this user.
type finishStarted struct {
	entry    finishEntry
	fallback string
}

// entryMailboxChecked: the result of checkEntryMailbox: the mailbox to
// use (a policy may rewrite it), or why it cannot be used. dial: another
// node hosts the mailbox, and this reaches its voicemail (Config.Routes).
type entryMailboxChecked struct{ mailbox, dial, reason string }

func (finishStarted) finishInput()       {}
func (entryMailboxChecked) finishInput() {}
func (joined) finishInput()              {}

func (in finishStarted) String() string {
	return in.entry.String() + " fallback=" + strconv.Quote(in.fallback)
}
func (in entryMailboxChecked) String() string {
	if in.reason != "" {
		return "mailbox-refused " + strconv.Quote(in.reason)
	}
	if in.dial != "" {
		return "mailbox-ok " + in.mailbox + " elsewhere=" + in.dial
	}
	return "mailbox-ok " + in.mailbox
}

// A finishCommand is what the finishing asks its owner to do.
type finishCommand interface {
	fmt.Stringer
	finishCommand()
}

// checkEntryMailbox: apply the policy to a voicemail transfer of held to
// mailbox by user and check the mailbox; feed entryMailboxChecked.
type checkEntryMailbox struct {
	mailbox, held string
	user          party
}

// reportEntry: tell the Observer how the voicemail transfer ended.
type reportEntry struct {
	mailbox string
	outcome Outcome
	reason  string
}

// playInvalid: tell the user the number was no good.
type playInvalid struct{ channel string }

// recallUser: ring the user's phone back for held (the blind transfer's
// rules; no mailbox left should that fail); the Observer hears of a
// voicemail transfer to destination under way.
type recallUser struct {
	user              party
	held, destination string
}

// voicemailElsewhere: send held to the voicemail of mailbox, which
// another node hosts, by dialling it (dial); the blind transfer's machine
// takes the call from there (mailboxElsewhere), with fallback's
// voicemail should the user's phone, rung back, not answer either; the
// Observer hears of a voicemail transfer under way.
type voicemailElsewhere struct {
	user                party
	held, mailbox, dial string
	fallback            string
}

func (checkEntryMailbox) finishCommand()  {}
func (voicemailElsewhere) finishCommand() {}
func (reportEntry) finishCommand()        {}
func (playInvalid) finishCommand()        {}
func (recallUser) finishCommand()         {}
func (stopMusic) finishCommand()          {}
func (hangupLeg) finishCommand()          {}
func (sendToVoicemail) finishCommand()    {}
func (recordEntry) finishCommand()        {}
func (joinBridge) finishCommand()         {}
func (endCall) finishCommand()            {}

func (c checkEntryMailbox) String() string {
	return "check-mailbox " + strconv.Quote(c.mailbox) + " for " + c.held + " by " + c.user.String()
}
func (c reportEntry) String() string {
	return "report " + string(c.outcome) + " " + strconv.Quote(c.reason) + " mailbox=" + strconv.Quote(c.mailbox)
}
func (c playInvalid) String() string { return "play-invalid " + c.channel }
func (c voicemailElsewhere) String() string {
	return words("voicemail-elsewhere", []string{"held", c.held, "mailbox", c.mailbox, "dial", c.dial,
		"user", c.user.String(), "fallback", c.fallback})
}
func (c recallUser) String() string { return "recall " + c.user.String() + " for " + c.held }

// Step applies one input.
func (m vmFinish) Step(in finishInput) (vmFinish, []finishCommand) {
	switch in := in.(type) {
	case finishStarted:
		if m.phase != finishNone && m.phase != finishDone {
			return m, nil
		}
		m = vmFinish{phase: finishCheckingMailbox, user: in.entry.user, held: in.entry.held,
			userPresent: in.entry.userPresent, keyed: in.entry.mailbox, fallback: in.fallback}
		return m, []finishCommand{checkEntryMailbox{mailbox: in.entry.mailbox, held: m.held, user: m.user}}
	case entryMailboxChecked:
		switch m.phase {
		case finishCheckingMailbox:
			if in.reason == "" && in.dial != "" {
				// Another node's mailbox: the held party keeps its music
				// while that node's voicemail is dialled; its entry
				// record goes (it stays in transferd's call).
				m.phase = finishDone
				cmds := []finishCommand{recordEntry{channel: m.held}}
				if m.userPresent {
					cmds = append(cmds, hangupLeg{channel: m.user.channel})
				}
				return m, append(cmds, voicemailElsewhere{user: m.user, held: m.held, mailbox: in.mailbox, dial: in.dial,
					fallback: m.fallback})
			}
			if in.reason == "" {
				m.phase = finishDone
				cmds := []finishCommand{reportEntry{mailbox: in.mailbox, outcome: OutcomeCompleted}, stopMusic{channel: m.held}}
				if m.userPresent {
					cmds = append(cmds, hangupLeg{channel: m.user.channel})
				}
				return m, append(cmds, sendToVoicemail{channel: m.held, mailbox: in.mailbox})
			}
			if m.userPresent {
				// The user hears so; the call resumes.
				m.phase = finishRejoining
				return m, []finishCommand{reportEntry{mailbox: m.keyed, outcome: OutcomeRefused, reason: in.reason},
					playInvalid{channel: m.user.channel}, stopMusic{channel: m.held}, recordEntry{channel: m.held},
					joinBridge{channel: m.held}}
			}
			m.phase, m.reason = finishCheckingFallback, in.reason
			return m, []finishCommand{stopMusic{channel: m.held},
				checkEntryMailbox{mailbox: m.fallback, held: m.held, user: m.user}}
		case finishCheckingFallback:
			if in.reason == "" && in.dial != "" {
				// The fallback mailbox is another node's: no mailbox is
				// left after it (the user is rung back first).
				m.phase = finishDone
				return m, []finishCommand{recordEntry{channel: m.held},
					voicemailElsewhere{user: m.user, held: m.held, mailbox: in.mailbox, dial: in.dial}}
			}
			if in.reason == "" {
				m.phase = finishDone
				return m, []finishCommand{
					reportEntry{mailbox: m.fallback, outcome: OutcomeVoicemail, reason: "fallback mailbox " + in.mailbox + ": " + m.reason},
					sendToVoicemail{channel: m.held, mailbox: in.mailbox}}
			}
			// No usable mailbox at all: the user's phone is rung back
			// rather than the caller dropped. The held party waits in
			// the bridge, hearing ringback, as a blind transfer's
			// transferee does: the recall's answer joins only the user's
			// new leg (left outside, both had dead air; engine fuzz).
			m.phase, m.recall = finishRejoining, true
			return m, []finishCommand{recordEntry{channel: m.held}, joinBridge{channel: m.held}}
		}
		return m, nil
	case joined:
		if m.phase != finishRejoining || in.channel != m.held {
			return m, nil
		}
		m.phase = finishDone
		if !in.ok {
			return m, []finishCommand{endCall{}}
		}
		if m.recall {
			return m, []finishCommand{recallUser{user: m.user, held: m.held, destination: m.fallback}}
		}
		return m, nil
	}
	return m, nil
}
