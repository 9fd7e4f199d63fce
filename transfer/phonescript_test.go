package transfer

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// A phone script is the engine fuzz's input: what phones do, one byte per
// step, the next byte choosing whom it concerns (arg). The step is the
// byte modulo 12 (below); the rest of the byte, v = byte/12, picks a
// variant. With v%3 == 2 the step is taken at once, before transferd has
// handled the previous ones (a phone's BYE crossing the REFER being
// carried out). The others make the steps people take on a PBX likely
// where random bytes would rarely get there: a destination that is an
// extension, its voicemail or nobody's number (destination); keying a
// whole voicemail transfer; the transferer's phone making the
// consultation call, and naming that call in its REFER. Bytes below 12
// are the plain steps (the fuzz's own destination string, any channel).
// A phone's REFER goes where its transfer handling sends it: to
// transferd, or carried out by Asterisk itself for phone 104 (core
// handling); Asterisk's own transfers (steps 10 and 11) are that phone's
// only.
//
// The engine handles each step's events before the next one (unless it
// is at once), and the invariants (invariants_test.go) are checked then;
// timers are steps too (time passes). A script therefore replays the same
// way every time: what a failure reports can be reproduced.
type phoneScript struct {
	fa     *fakeAsterisk
	eng    *steppedEngine
	ledger *referLedger
	phones []string // channel ids of phones' own calls and answered legs
	digits int      // DTMF digits keyed so far: bounds the digit timers
	quiet  bool     // the engine has handled every earlier step
	trace  []string // what each step did, for a failure's message
}

// maxKeyed bounds the digits one step keys: enough for a feature code and
// any mailbox number, and a long destination string does not flood the
// event stream.
const maxKeyed = 16

// playPhones plays script (destination dest, for REFERs and DTMF) on an
// engine using ast (the fake, or a wrapper of it), then lets every phone
// hang up. It returns the first invariant that broke, with what the
// script did and what Asterisk holds.
func playPhones(t *testing.T, fa *fakeAsterisk, ast Asterisk, script []byte, dest string) error {
	// The digit timer is long enough never to fire by itself during a
	// run: time passes only when the script says so (timePasses). Phone
	// 104 has Asterisk carry out its transfers (core handling), the
	// others send them to transferd (ari-only). 102 and 103 never key the
	// voicemail code during calls: a call between them has a plain bridge,
	// replaced when a transfer brings in 101 or 104 (bridgekind.go).
	cfg := Config{DigitTimeout: time.Minute, AnswerTimeout: time.Second, CoreExtensions: "^" + coreHandledPhone + "$",
		ReferOnlyExtensions: "^10[23]$"}
	p := &phoneScript{fa: fa, eng: startSteppedEngine(t, fa, ast, cfg, zaptest.NewLogger(t)), ledger: newReferLedger(), quiet: true}
	err := p.play(script, dest)
	if err == nil {
		err = p.everyoneHangsUp()
	}
	if err != nil {
		return fmt.Errorf("%w\nsteps:\n  %s\n%s", err, strings.Join(p.trace, "\n  "), fa.snapshot())
	}
	return nil
}

func (p *phoneScript) play(script []byte, dest string) error {
	for i, op := range script {
		arg := byte(i)
		if i+1 < len(script) {
			arg = script[i+1]
		}
		if err := p.step(i, op, arg, dest); err != nil {
			return err
		}
		if (op/12)%3 == 2 {
			p.quiet = false
			p.note("  (at once)")
			continue
		}
		if err := p.settle(); err != nil {
			return err
		}
	}
	if !p.quiet {
		return p.settle() // (the last steps were at once)
	}
	return nil
}

// settle waits for the engine to handle everything and checks the
// invariants.
func (p *phoneScript) settle() error {
	p.quiet = true
	return p.eng.settle(func() error { return checkQuiet(p.fa, p.ledger) })
}

func (p *phoneScript) note(format string, args ...any) {
	p.trace = append(p.trace, fmt.Sprintf(format, args...))
}

// pick returns the phone channel b chooses ("none" before any).
func (p *phoneScript) pick(b byte) string {
	if len(p.phones) == 0 {
		return "none"
	}
	return p.phones[int(b)%len(p.phones)]
}

// step applies one byte of the script.
func (p *phoneScript) step(i int, op, arg byte, dest string) error {
	fa, pick, v := p.fa, p.pick, int(op/12)
	switch op % 12 {
	case 0: // a phone calls an extension
		id := fmt.Sprintf("P%d", i)
		from, exten := "10"+string(rune('1'+arg%4)), "10"+string(rune('1'+(arg/4)%5))
		if v%2 == 1 && len(p.phones) > 0 {
			// The phone of a channel makes a second call (to consult a
			// colleague, say).
			from = p.extenOf(pick(arg))
		}
		fa.phoneCalls(id, from, exten)
		p.phones = append(p.phones, id)
		p.note("%d: %s: %s calls %s", i, id, from, exten)
	case 1: // the newest ringing leg answers
		if ring := p.newestRinging(); ring != "" {
			fa.answers(ring)
			p.phones = append(p.phones, ring)
			p.note("%d: %s answers", i, ring)
		}
	case 2:
		p.note("%d: %s hangs up", i, pick(arg))
		fa.hangsUp(pick(arg))
	case 3:
		to := destination(v, arg, dest)
		if p.coreHandled(pick(arg)) {
			p.note("%d: %s REFERs to %q: Asterisk transfers it itself", i, pick(arg), to)
			fa.coreBlindTransfers(pick(arg), to)
			break
		}
		p.note("%d: %s REFERs %s to %q", i, pick(arg), pick(arg+1), to)
		p.referSent(pick(arg))
		fa.refers(pick(arg), pick(arg+1), to)
	case 4:
		if v%2 == 1 {
			p.note("%d: %s resumes", i, pick(arg))
			fa.unholds(pick(arg))
			break
		}
		p.note("%d: %s holds", i, pick(arg))
		fa.holds(pick(arg))
	case 5:
		status := []string{"BUSY", "NOANSWER", "CONGESTION", "CHANUNAVAIL"}[arg%4]
		p.note("%d: %s dial ends %s", i, pick(arg), status)
		fa.dialFails(pick(arg), status, 17)
	case 6:
		digits := []rune(dest)
		switch ext := "10" + string(rune('1'+arg%5)); v % 4 {
		case 1:
			digits = []rune("*8" + ext + "#")
		case 3:
			digits = []rune(ext)
		}
		if len(digits) > maxKeyed {
			digits = digits[:maxKeyed]
		}
		p.digits += len(digits)
		p.note("%d: %s keys %q", i, pick(arg), string(digits))
		fa.keys(pick(arg), string(digits))
	case 7:
		transferer, transferee, consult, target := pick(arg), pick(arg+1), pick(arg+2), pick(arg+3)
		if v%2 == 1 {
			// The transferer's phone names its other call.
			consult = p.otherCallOf(transferer)
			target = p.companionOf(consult)
		}
		if p.coreHandled(transferer) {
			p.note("%d: %s REFERs replacing %s: Asterisk completes it itself (partner %v)", i, transferer, consult, arg%2 == 0)
			fa.coreAttendedTransfers(transferer, consult, arg%2 == 0)
			break
		}
		p.note("%d: %s REFERs %s replacing %s (to %s)", i, transferer, transferee, consult, target)
		p.referSent(transferer)
		fa.attendedRefers(transferer, transferee, consult, target)
	case 8:
		p.digits += 2
		p.note("%d: %s keys *8", i, pick(arg))
		fa.keys(pick(arg), "*8")
	case 9:
		p.note("%d: time passes", i)
		return p.eng.timePasses(p.digits + 1)
	case 10:
		to := destination(v, arg, dest)
		if !p.coreHandled(pick(arg)) {
			break // (Asterisk leaves this phone's REFERs to transferd)
		}
		p.note("%d: Asterisk transfers %s to %q itself", i, pick(arg), to)
		fa.coreBlindTransfers(pick(arg), to)
	case 11:
		x1, b2 := pick(arg), pick(arg+1)
		if v%2 == 1 {
			b2 = p.otherCallOf(x1)
		}
		if !p.coreHandled(x1) {
			break
		}
		p.note("%d: Asterisk completes %s's attended transfer replacing %s itself (partner %v)", i, x1, b2, arg%2 == 0)
		fa.coreAttendedTransfers(x1, b2, arg%2 == 0)
	}
	return nil
}

// coreHandledPhone is the extension whose phone has Asterisk carry out
// its transfers (core handling).
const coreHandledPhone = "104"

// coreHandled reports whether the phone on channel id has Asterisk carry
// out its REFERs (core handling): a channel's REFER reaches transferd or
// is Asterisk's, never both (PJSIP_TRANSFER_HANDLING is set per channel,
// here per phone).
func (p *phoneScript) coreHandled(id string) bool {
	p.fa.mu.Lock()
	defer p.fa.mu.Unlock()
	ch := p.fa.channels[id]
	return ch != nil && ch.endpoint == "PJSIP/"+coreHandledPhone
}

// destination is where a transfer step sends the call: the fuzz's string,
// or by variant an extension (101-104 ring, 105 is not registered), its
// voicemail by feature code, or a number no phone has.
func destination(v int, arg byte, dest string) string {
	ext := "10" + string(rune('1'+arg%5))
	switch v % 4 {
	case 1:
		return ext
	case 2:
		return "*8" + ext
	case 3:
		return "1" + ext
	}
	return dest
}

// extenOf returns the extension of the phone on channel id.
func (p *phoneScript) extenOf(id string) string {
	p.fa.mu.Lock()
	defer p.fa.mu.Unlock()
	if ch := p.fa.channels[id]; ch != nil {
		return strings.TrimPrefix(ch.endpoint, "PJSIP/")
	}
	return "101"
}

// otherCallOf returns the newest other channel of the phone on channel id
// still up ("" when it has none): its other call.
func (p *phoneScript) otherCallOf(id string) string {
	p.fa.mu.Lock()
	defer p.fa.mu.Unlock()
	ch := p.fa.channels[id]
	if ch == nil {
		return ""
	}
	other := ""
	for _, phone := range p.phones {
		if o := p.fa.channels[phone]; phone != id && o != nil && o.endpoint == ch.endpoint {
			other = phone
		}
	}
	return other
}

// companionOf returns whom the channel id talks to ("" when nobody).
func (p *phoneScript) companionOf(id string) string {
	p.fa.mu.Lock()
	defer p.fa.mu.Unlock()
	return p.fa.companionLocked(id)
}

// newestRinging returns the leg transferd created last that still rings.
func (p *phoneScript) newestRinging() string {
	p.fa.mu.Lock()
	defer p.fa.mu.Unlock()
	ring := ""
	for _, c := range p.fa.calls {
		if fields := strings.Fields(c); fields[0] == "create" {
			if ch := p.fa.channels[fields[1]]; ch != nil && ch.created && ch.state == "Ringing" {
				ring = fields[1]
			}
		}
	}
	return ring
}

// referSent notes a REFER of the phone on transferer: one more final
// report it may be told, and one it is owed when it talks to someone and
// transferd has handled everything before (referUnanswered).
func (p *phoneScript) referSent(transferer string) {
	p.fa.mu.Lock()
	defer p.fa.mu.Unlock()
	if p.fa.channels[transferer] == nil {
		return
	}
	p.ledger.sent[transferer]++
	if p.quiet && p.fa.talksLocked(transferer) {
		p.ledger.owed[transferer] = finalReports(p.fa.progress[transferer])
	}
}

// everyoneHangsUp: the people hang up, one after the other (their own
// channels and the legs they answered), and Asterisk ends its own Local
// channels; voicemail callers are in the dialplan (out of transferd's
// care) and hang up too. What transferd created and nobody answered (legs
// still ringing) and its bridges, it must end itself: nothing the calls
// created may survive them.
func (p *phoneScript) everyoneHangsUp() error {
	for round := 0; round < 10; round++ {
		p.fa.mu.Lock()
		var people []string
		for _, id := range keys(p.fa.channels) {
			if ch := p.fa.channels[id]; !ch.created || ch.state == "Up" {
				people = append(people, id)
			}
		}
		p.fa.mu.Unlock()
		if len(people) == 0 {
			break
		}
		for _, id := range people {
			p.note("end: %s hangs up", id)
			p.fa.hangsUp(id)
			if err := p.settle(); err != nil {
				return err
			}
		}
	}
	p.fa.mu.Lock()
	defer p.fa.mu.Unlock()
	if len(p.fa.channels) > 0 || len(p.fa.bridges) > 0 {
		return fmt.Errorf("transferd left these behind after the phones hung up: channels %v, bridges %v",
			keys(p.fa.channels), keys(p.fa.bridges))
	}
	return nil
}
