package transfer

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The voicemail entry is the in-call way to start a voicemail transfer: the
// user keys the feature code (default *8), the other party is then held
// with music while the user keys the mailbox number, and # — or hanging
// up, or a pause longer than the digit timeout — sends the held party to
// that mailbox.
//
// vmEntry is that entry as a pure state machine, (state, input) → (next
// state, commands), after raft's RawNode: it does no I/O, reads no clock,
// starts no timer and no goroutine. The call's owner feeds it the inputs
// (digits, the digit timer's expiries, hangups), logs each transition and
// executes the commands it returns (call.stepEntry in voicemail.go); what
// happens to the held party once the number is complete (policy, mailbox
// check, fallback) is the owner's, on finishEntry. transferMachineFiles
// (machines_test.go) keeps this file free of I/O, and the transcripts in
// testdata/voicemail_entry tell its behaviour as stories.

// entryPhase is where the user is in keying the entry.
type entryPhase int

const (
	// entryIdle: no feature code being keyed; the call goes on as usual.
	entryIdle entryPhase = iota
	// entryKeyingCode: the user has keyed the start of the feature code.
	// The other party only heard tones; nothing has changed yet.
	entryKeyingCode
	// entryKeyingMailbox: the whole feature code was keyed; the other
	// party is held with music while the user keys the mailbox number.
	entryKeyingMailbox
)

// party is one side of the call as the entry knows it.
type party struct {
	channel string // "" for the user of an adopted entry who hung up meanwhile
	exten   string
}

func (p party) String() string {
	ch := p.channel
	if ch == "" {
		ch = "(none)"
	}
	return ch + "/" + p.exten
}

// vmEntry is a call's voicemail entry. Its zero value is not usable:
// newVMEntry sets the feature code and the digit timeout.
type vmEntry struct {
	code    string        // the feature code, e.g. "*8"
	timeout time.Duration // how long the user may pause between digits

	phase   entryPhase
	user    party  // who keys
	held    string // the other party's channel: held while the number is keyed
	matched int    // digits of the feature code keyed so far
	digits  string // the mailbox number keyed so far
	// timerSeq numbers the digit timers. It counts across entries, so an
	// expiry already queued for a timer that was replaced — by another
	// digit, or by a new entry after an abandoned one — is never taken
	// for the current one.
	timerSeq int
}

func newVMEntry(code string, timeout time.Duration) vmEntry {
	return vmEntry{code: code, timeout: timeout}
}

// active reports whether an entry is being keyed.
func (m vmEntry) active() bool { return m.phase != entryIdle }

func (m vmEntry) String() string {
	switch m.phase {
	case entryIdle:
		return "idle"
	case entryKeyingCode:
		return "keying-code " + strconv.Quote(m.code[:m.matched]) + " user=" + m.user.String()
	case entryKeyingMailbox:
		return "keying-mailbox " + strconv.Quote(m.digits) + " user=" + m.user.String() + " held=" + m.held
	}
	return fmt.Sprintf("phase(%d)", int(m.phase))
}

// record is the entry as it is kept on the held party's channel
// (voicemailVariable): "<user's extension>:<digits so far>".
func (m vmEntry) record() string { return m.user.exten + ":" + m.digits }

// An entryInput is something the entry learns from its owner.
type entryInput interface {
	fmt.Stringer
	entryInput()
}

// digitKeyed: a party of the call keyed a DTMF digit (RFC 4733 events,
// which Asterisk reports as ChannelDtmfReceived).
type digitKeyed struct {
	by      party
	other   string // the channel of the party by talks to
	digit   string // "0"-"9", "*", "#", "A"-"D"
	talking bool   // the call is in stateTalking
}

// digitTimerFired: the digit timer the entry started (startDigitTimer)
// has expired. seq tells the current timer from one that was replaced.
type digitTimerFired struct{ seq int }

// partyHungUp: a party of a talking call hung up.
type partyHungUp struct{ channel string }

// callEnded: the call is ending; nothing of it is left to hold or record.
type callEnded struct{}

// entryAdopted: a successor transferd adopted a call whose held party
// carries a recorded entry (voicemailVariable); the user is still on the
// line (userPresent, on user) or hung up while nobody listened.
type entryAdopted struct {
	record      string // "<user's extension>:<digits so far>"
	held        string
	user        string // the user's channel; "" when gone
	userPresent bool
}

// partyReplaced: Asterisk put channel new in old's place (a transfer it
// performed itself, core handling); the entry follows the party.
type partyReplaced struct{ old, new string }

// partyLeft: transferd hung up a party's channel itself and the call goes
// on without it: the Local channel of a transfer Asterisk performed
// (core handling) that transferd carries out otherwise (unlink,
// nativeBlind).
type partyLeft struct{ channel string }

// transferTakesOver: a transfer of the call starts (a phone's REFER,
// Asterisk's own transfer, the call handed over as a consultation, a
// transferer hanging up while holding). It replaces an entry being keyed.
type transferTakesOver struct{}

func (transferTakesOver) entryInput()    {}
func (transferTakesOver) String() string { return "transfer" }

func (digitKeyed) entryInput()      {}
func (partyReplaced) entryInput()   {}
func (partyLeft) entryInput()       {}
func (digitTimerFired) entryInput() {}
func (partyHungUp) entryInput()     {}
func (callEnded) entryInput()       {}
func (entryAdopted) entryInput()    {}

// (digitTimerFired also reaches the owner through its mailbox.)
func (digitTimerFired) inputName() string { return "digit-timer" }

func (in digitKeyed) String() string {
	s := "digit " + in.by.channel + " " + in.digit
	if !in.talking {
		s += " not-talking"
	}
	return s
}
func (in digitTimerFired) String() string { return "digit-timer #" + strconv.Itoa(in.seq) }
func (in partyHungUp) String() string     { return "hangup " + in.channel }
func (in partyReplaced) String() string   { return "replaced " + in.old + " " + in.new }
func (in partyLeft) String() string       { return "left " + in.channel }
func (callEnded) String() string          { return "call-ended" }
func (in entryAdopted) String() string {
	if !in.userPresent {
		return "adopted " + strconv.Quote(in.record) + " held=" + in.held + " user-gone"
	}
	return "adopted " + strconv.Quote(in.record) + " held=" + in.held + " user=" + in.user
}

// An entryCommand is something the entry asks its owner to do.
type entryCommand interface {
	fmt.Stringer
	entryCommand()
}

// startDigitTimer: (re)start the digit timer; when it expires, feed
// digitTimerFired{seq}. A timer already running is replaced (stopped).
type startDigitTimer struct {
	seq   int
	after time.Duration
}

// stopDigitTimer: stop the digit timer; the entry expects no expiry.
type stopDigitTimer struct{}

// holdWithMusic: take the party out of the bridge and play it music on
// hold while the user keys the number.
type holdWithMusic struct{ channel string }

// recordEntry: keep the entry on the held party's channel in Asterisk
// (voicemailVariable), so that a successor adopting the call can resume
// it (entryAdopted).
type recordEntry struct{ channel, value string }

// releaseHeld: the party held for the entry comes back: its music stops,
// its recorded entry is cleared and it rejoins the bridge.
type releaseHeld struct{ channel string }

// finishEntry: the number is complete: send the held party to the
// mailbox keyed (a user still on the line is hung up; with an invalid
// number the user hears so and the call resumes; a user who hung up has
// the party sent to the fallback mailbox). The entry is over.
type finishEntry struct {
	user        party
	held        string
	mailbox     string // "" when nothing was keyed
	userPresent bool
}

func (startDigitTimer) entryCommand() {}
func (stopDigitTimer) entryCommand()  {}
func (holdWithMusic) entryCommand()   {}
func (recordEntry) entryCommand()     {}
func (finishEntry) entryCommand()     {}
func (releaseHeld) entryCommand()     {}

func (c startDigitTimer) String() string {
	return "start-digit-timer #" + strconv.Itoa(c.seq) + " " + c.after.String()
}
func (stopDigitTimer) String() string  { return "stop-digit-timer" }
func (c holdWithMusic) String() string { return "hold-with-music " + c.channel }
func (c releaseHeld) String() string   { return "release-held " + c.channel }
func (c recordEntry) String() string {
	return "record-entry " + c.channel + " " + strconv.Quote(c.value)
}
func (c finishEntry) String() string {
	user := "user-gone"
	if c.userPresent {
		user = "user-present"
	}
	return "finish held=" + c.held + " mailbox=" + strconv.Quote(c.mailbox) + " user=" + c.user.String() + " " + user
}

// Step applies one input: it returns the entry's next state and what the
// owner must do, in order. An input a state does not take leaves the
// entry as it is and asks for nothing (said at each case).
func (m vmEntry) Step(in entryInput) (vmEntry, []entryCommand) {
	switch in := in.(type) {
	case digitKeyed:
		return m.onDigit(in)
	case digitTimerFired:
		if m.phase == entryIdle || in.seq != m.timerSeq {
			return m, nil // a timer that was replaced or stopped
		}
		if m.phase == entryKeyingCode {
			// A lone "*" (or "*" then a pause): just a tone.
			return m.idle(), nil
		}
		// The number is complete, or nothing was keyed (the owner tells
		// a user on the line so): as on "#".
		return m.idle(), []entryCommand{m.finish(true)}
	case partyHungUp:
		if m.phase != entryKeyingMailbox || in.channel != m.user.channel {
			// The held party, or a user still keying the code: the
			// call's own rules apply (if it ends, callEnded follows).
			return m, nil
		}
		// Hanging up is how a user finishes keying *8 and a number.
		return m.idle(), []entryCommand{stopDigitTimer{}, m.finish(false)}
	case partyReplaced:
		if m.phase == entryIdle || (in.old != m.user.channel && in.old != m.held) {
			return m, nil
		}
		if m.user.channel == in.old {
			m.user.channel = in.new
		}
		if m.held == in.old {
			m.held = in.new
		}
		return m, nil
	case partyLeft:
		if m.phase == entryIdle || in.channel != m.held {
			// The user's channel leaving leaves the entry as it is: the
			// digit timer finishes it, and the held party comes back into
			// the call or goes to the mailbox keyed.
			return m, nil
		}
		// The held party is gone and the call goes on (transferd rings a
		// transferer back, or dials a blind transfer's target): there is
		// nobody left to send to a mailbox. Kept, the entry would finish
		// later on a channel that no longer exists: the digit timer would
		// end the call (the user, or the transferer rung back, dropped),
		// and the user hanging up would have transferd ring the user's
		// own phone back for nobody.
		return m.idle(), []entryCommand{stopDigitTimer{}}
	case callEnded:
		if m.phase == entryIdle {
			return m, nil
		}
		return m.idle(), []entryCommand{stopDigitTimer{}}
	case transferTakesOver:
		switch m.phase {
		case entryIdle:
			return m, nil
		case entryKeyingCode:
			return m.idle(), []entryCommand{stopDigitTimer{}}
		}
		// The transfer takes the call as it was before the feature code:
		// left held, the party stayed outside the bridge with music while
		// the transfer connected the others to an empty bridge.
		return m.idle(), []entryCommand{stopDigitTimer{}, releaseHeld{channel: m.held}}
	case entryAdopted:
		if m.phase != entryIdle {
			return m, nil // a call is adopted once, before any digit
		}
		exten, digits, _ := strings.Cut(in.record, ":")
		m.phase, m.matched, m.digits = entryKeyingMailbox, len(m.code), digits
		m.user, m.held = party{channel: in.user, exten: exten}, in.held
		if !in.userPresent {
			// The user hung up while nobody listened, which completes it.
			return m.idle(), []entryCommand{m.finish(false)}
		}
		m, start := m.startTimer()
		return m, []entryCommand{start}
	}
	return m, nil
}

func (m vmEntry) onDigit(in digitKeyed) (vmEntry, []entryCommand) {
	if !in.talking {
		// Ringing, transferring, consulting: digits are the phones' own
		// business. (An entry being keyed stays as it is.)
		return m, nil
	}
	switch {
	case m.phase == entryIdle:
		if m.code == "" || in.digit != m.code[:1] {
			return m, nil // just a tone (or no feature code configured)
		}
		m.phase, m.user, m.held, m.matched, m.digits = entryKeyingCode, in.by, in.other, 1, ""
		return m.afterCode()
	case in.by.channel != m.user.channel:
		// The other party keys digits while the user keys the entry: the
		// user's sequence is not disturbed.
		return m, nil
	case m.phase == entryKeyingCode:
		if in.digit != m.code[m.matched:m.matched+1] {
			// The code is abandoned; the digit may start a new one
			// (e.g. "**8").
			next, cmds := m.idle().onDigit(in)
			return next, append([]entryCommand{stopDigitTimer{}}, cmds...)
		}
		m.matched++
		return m.afterCode()
	case in.digit == "#":
		return m.idle(), []entryCommand{stopDigitTimer{}, m.finish(true)}
	case in.digit >= "0" && in.digit <= "9":
		m.digits += in.digit
		cmds := []entryCommand{recordEntry{channel: m.held, value: m.record()}}
		m, start := m.startTimer()
		return m, append(cmds, start)
	}
	return m, nil // "*" or "A"-"D" in a mailbox number: ignored
}

// afterCode follows a digit of the feature code: once the code is
// complete the other party is held and the entry recorded; either way the
// digit timer is (re)started.
func (m vmEntry) afterCode() (vmEntry, []entryCommand) {
	var cmds []entryCommand
	if m.matched == len(m.code) {
		m.phase = entryKeyingMailbox
		cmds = append(cmds, holdWithMusic{channel: m.held}, recordEntry{channel: m.held, value: m.record()})
	}
	m, start := m.startTimer()
	return m, append(cmds, start)
}

func (m vmEntry) startTimer() (vmEntry, startDigitTimer) {
	m.timerSeq++
	return m, startDigitTimer{seq: m.timerSeq, after: m.timeout}
}

func (m vmEntry) finish(userPresent bool) finishEntry {
	return finishEntry{user: m.user, held: m.held, mailbox: m.digits, userPresent: userPresent}
}

// idle is the entry with nothing being keyed; the configuration and the
// timer numbering stay.
func (m vmEntry) idle() vmEntry {
	return vmEntry{code: m.code, timeout: m.timeout, timerSeq: m.timerSeq}
}
