package transfer

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// FuzzPhonesAgainstTheEngine drives the engine with arbitrary sequences of
// what phones do — calls, answers, hangups, holds, DTMF, REFERs to any
// destination (garbage, very long, unusual characters), REFERs with
// Replaces naming any channel, transfers Asterisk performs itself (core
// handling) — in any order. Whatever happens, nothing may panic; no REFER
// may get more than one final progress report (a phone shows one outcome);
// and once the phones hang up (and Asterisk's own Local channels end),
// transferd must hang up every leg it created that is still ringing and
// destroy every bridge: the fuzz never hangs those up itself.
func FuzzPhonesAgainstTheEngine(f *testing.F) {
	f.Add([]byte{0, 1, 3, 'x', 5, 2}, "103")
	f.Add([]byte{0, 1, 4, 6, 1, 7, 8}, "*8103#")
	f.Add([]byte{0, 1, 3, 0, 1, 9, 2, 2}, "0900\x00;;<sip:evil@x>")
	f.Add([]byte{0, 0, 1, 1, 4, 9, 6, 7, 2, 3}, "*8")
	f.Add([]byte{0, 1, 10, 0, 1, 2}, "103")
	f.Add([]byte{0, 1, 4, 0, 1, 11, 1, 2}, "x")
	f.Fuzz(func(t *testing.T, script []byte, dest string) {
		if len(script) > 64 {
			script = script[:64]
		}
		fa := newFakeAsterisk(t)
		stop, e := runEngine(t, fa, Config{DigitTimeout: 500 * time.Millisecond, AnswerTimeout: time.Second}, nil, false)
		defer stop()
		var phones []string // channel ids of phones' own calls and answered legs
		pick := func(b byte) string {
			if len(phones) == 0 {
				return "none"
			}
			return phones[int(b)%len(phones)]
		}
		refers := map[string]int{} // REFERs sent per phone channel
		refer := func(transferer string) {
			fa.mu.Lock()
			if fa.channels[transferer] != nil {
				refers[transferer]++
			}
			fa.mu.Unlock()
		}
		for i, op := range script {
			arg := byte(i)
			if i+1 < len(script) {
				arg = script[i+1]
			}
			switch op % 12 {
			case 0: // a phone calls an extension
				id := "P" + string(rune('a'+i%26))
				fa.phoneCalls(id, "10"+string(rune('1'+arg%4)), "10"+string(rune('1'+(arg/4)%5)))
				phones = append(phones, id)
			case 1: // the newest ringing leg answers
				fa.mu.Lock()
				var ring string
				for id, ch := range fa.channels {
					if ch.created && ch.state == "Ringing" {
						ring = id
					}
				}
				fa.mu.Unlock()
				if ring != "" {
					fa.answers(ring)
					phones = append(phones, ring)
				}
			case 2:
				fa.hangsUp(pick(arg))
			case 3:
				refer(pick(arg))
				fa.refers(pick(arg), pick(arg+1), dest)
			case 4:
				fa.holds(pick(arg))
			case 5:
				fa.dialFails(pick(arg), []string{"BUSY", "NOANSWER", "CONGESTION", "CHANUNAVAIL"}[arg%4], 17)
			case 6:
				fa.keys(pick(arg), dest)
			case 7:
				refer(pick(arg))
				fa.attendedRefers(pick(arg), pick(arg+1), pick(arg+2), pick(arg+3))
			case 8:
				fa.keys(pick(arg), "*8")
			case 9:
				time.Sleep(time.Millisecond)
			case 10:
				fa.coreBlindTransfers(pick(arg), dest)
			case 11:
				fa.coreAttendedTransfers(pick(arg), pick(arg+1), arg%2 == 0)
			}
		}
		// The phones hang up (their own channels and the legs they
		// answered), and Asterisk ends its own Local channels; voicemail
		// callers are in the dialplan (gone from transferd's care) and
		// hang up too. What transferd created and nobody answered (legs
		// still ringing) and its bridges, it must end.
		deadline := time.Now().Add(5 * time.Second)
		wasDone := false
		for {
			fa.mu.Lock()
			var phonesLeft []string
			for id, ch := range fa.channels {
				if !ch.created || ch.state == "Up" {
					// A phone's own channel, or a leg a phone answered:
					// a person, who hangs up in the end.
					phonesLeft = append(phonesLeft, id)
				}
			}
			fa.mu.Unlock()
			for _, id := range phonesLeft {
				fa.hangsUp(id)
			}
			// Nothing left counts only once the engine has handled every
			// event the script raised. With its events still queued (a
			// script of a thousand digits), the phones hung up before
			// transferd had created anything, the check passed before
			// the engine acted, and stopping it then left an owner
			// blocked raising an event into the full stream ("engine
			// did not stop"). Twice in a row, because an event just
			// taken from the stream is not counted as dispatching yet.
			settled := engineSettled(fa, e)
			fa.mu.Lock()
			done := settled && len(fa.channels) == 0 && len(fa.bridges) == 0
			overReported := tooManyFinalReports(fa.progress, refers)
			fa.mu.Unlock()
			if overReported != "" {
				t.Fatalf("%s\n%s", overReported, fa.snapshot())
			}
			if done && wasDone {
				return
			}
			wasDone = done
			if time.Now().After(deadline) {
				t.Fatalf("transferd left these behind after the phones hung up:\n%s", fa.snapshot())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// engineSettled reports whether e has handled every event f raised: none
// waits in the stream or is being routed, no owner is in a step or has
// inputs queued.
func engineSettled(f *fakeAsterisk, e *Engine) bool {
	return len(f.events) == 0 && e.dispatching.Load() == 0 && e.stepping.Load() == 0 &&
		!e.queued(func(input) bool { return true })
}

// tooManyFinalReports names a phone channel told more final outcomes of
// its REFERs than it sent REFERs ("" when none was).
func tooManyFinalReports(progress map[string][]string, refers map[string]int) string {
	for id, states := range progress {
		finals := 0
		for _, s := range states {
			if s != progressTrying {
				finals++
			}
		}
		if finals > refers[id] {
			return fmt.Sprintf("%s sent %d REFERs and was told %d final outcomes: %v", id, refers[id], finals, states)
		}
	}
	return ""
}

// Config from hostile input is refused with an error, never a panic.
func FuzzConfigValidate(f *testing.F) {
	f.Add("PJSIP/{exten}", "^[1-9][0-9]{1,5}$", "*8", "transferer", int64(20e9))
	f.Add("", "[", "*x", "9", int64(-1))
	f.Fuzz(func(t *testing.T, template, pattern, code, fallback string, timeout int64) {
		cfg := Config{DialTemplate: template, ExtensionPattern: pattern, VoicemailCode: code,
			VoicemailFallback: fallback, AnswerTimeout: time.Duration(timeout)}
		if err := cfg.Validate(); err == nil {
			if _, err := New(cfg, newFakeAsterisk(t), Options{}); err != nil {
				t.Fatalf("valid config refused by New: %v", err)
			}
			r := NewPatternRouter(cfg)
			r.Route(context.Background(), code)
		}
	})
}
