package transfer

import (
	"context"
	"testing"
	"time"
)

// FuzzPhonesAgainstTheEngine drives the engine with arbitrary scripts of
// what phones do (phonescript_test.go) — calls, answers, hangups, holds,
// DTMF, REFERs to any destination (garbage, very long, unusual
// characters), REFERs with Replaces naming any channel, transfers Asterisk
// performs itself (core handling), time passing — in any order, some of
// them before transferd has handled the previous ones. Whatever happens,
// nothing may panic, and after every step, once transferd has handled it,
// what people hear and see must make sense (invariants_test.go: every
// REFER told one outcome, nobody left in silence, no ringing for nobody,
// no music over a conversation, no empty bridge); once the phones hang
// up, nothing the calls created may survive. A failing script replays the
// same way: the steps and what Asterisk held are in the failure.
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
		if err := playPhones(t, fa, fa, script, dest); err != nil {
			t.Fatal(err)
		}
	})
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
