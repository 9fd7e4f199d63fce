package transfer

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// consulting sets up the first step of an attended transfer: 101 (A) talks
// to 102 (first leg X1); 102 holds A and calls 103 (B2 → colleague K). With
// answer, 103 answers. It returns X1, B2 and K.
func consulting(t *testing.T, f *fakeAsterisk, answer bool) (x1, b2, k string) {
	t.Helper()
	_, x1 = talking(t, f)
	f.holds(x1)
	f.phoneCalls("B2", "102", "103")
	f.eventually("103 rings", func() bool { return f.ringingLocked("PJSIP/103") })
	k = f.createdChannel("PJSIP/103")
	if answer {
		f.answers(k)
		f.eventually("102 and 103 talk", func() bool { return bridgedLocked(f, "B2", k) })
	}
	return x1, "B2", k
}

func TestAttendedTransfer(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		// run drives the phones after consulting and checks the outcome.
		answer bool
		run    func(t *testing.T, f *fakeAsterisk, x1, b2, k string)
	}{
		{
			name:   "REFER with Replaces: caller and colleague talk, transferer's legs gone, phones told",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.attendedRefers(x1, "A", b2, k)
				f.eventually("A and 103 bridged, 102's legs hung up", func() bool {
					return bridgedLocked(f, "A", k) && f.channels[x1] == nil && f.channels[b2] == nil
				})
				f.eventually("102 told 200, displays updated", func() bool {
					return slices.Contains(f.progress[x1], progressAnswered) &&
						f.connected[k] == "<101>" && f.connected["A"] == "<103>"
				})
				f.mu.Lock()
				bridges := len(f.bridges)
				// The phone waits for its NOTIFY: only what the outcome
				// depends on comes before it, those three requests at once
				// (in any order). (The wait for Asterisk to take the REFER
				// in runs beside them, from the REFER on.)
				want := []string{"hangup " + b2 + " normal", "remove ? " + x1, "add ? " + k, "transfer-progress " + x1 + " " + progressAnswered}
				// (From the first of the three's last occurrences: the
				// colleague was added to the consultation bridge before.)
				start := len(f.calls)
				for _, w := range want[:3] {
					for i := len(f.calls) - 1; i >= 0; i-- {
						if matchCommands(f.calls[i:i+1], []string{w}) {
							start = min(start, i)
							break
						}
					}
				}
				var path []string
				if start < len(f.calls) {
					for _, cmd := range f.calls[start:] {
						if len(path) < 4 && !strings.HasPrefix(cmd, "await-refer ") {
							path = append(path, cmd)
						}
					}
				}
				f.mu.Unlock()
				if bridges != 1 {
					t.Errorf("%d bridges after the transfer, want 1 (consultation bridge destroyed)\n%s", bridges, f.snapshot())
				}
				if len(path) == 4 {
					byVerb := func(a, b string) int { return strings.Compare(strings.Fields(a)[0], strings.Fields(b)[0]) }
					slices.SortStableFunc(path[:3], byVerb)
					slices.SortStableFunc(want[:3], byVerb)
				}
				if !matchCommands(path, want) {
					t.Errorf("commands from the first of the consultation hangup, the transferer's removal and the colleague's move on: %q, want %q in any order, then %q\n%s",
						path, want[:3], want[3], f.snapshot())
				}
				f.hangsUp(k)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			// Asterisk 22.10.1 reads the Replaces dialog's channel for
			// each progress report without a reference (destroyWait).
			name:   "REFER with Replaces: the phone is told only once Asterisk has destroyed the consultation leg",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.destroysSlowly(b2)
				f.attendedRefers(x1, "A", b2, k)
				f.eventually("A and 103 bridged, consultation leg hung up", func() bool {
					return bridgedLocked(f, "A", k) && f.channels[b2] == nil
				})
				time.Sleep(50 * time.Millisecond) // (anything else the engine would do comes now)
				f.mu.Lock()
				told, x1Left, shown := len(f.progress[x1]) > 0, f.channels[x1] != nil, f.connected[k] != ""
				f.mu.Unlock()
				if told || !x1Left || shown {
					t.Fatalf("102 told %v, first leg present %v, displays updated %v before the consultation leg was destroyed; want nothing told, leg kept, displays after the NOTIFY\n%s",
						told, x1Left, shown, f.snapshot())
				}
				f.destroyed(b2)
				f.eventually("102 told 200, its first leg hung up, displays updated", func() bool {
					return slices.Equal(f.progress[x1], []string{progressAnswered}) && f.channels[x1] == nil &&
						f.connected[k] == "<101>" && f.connected["A"] == "<103>"
				})
				f.mu.Lock()
				hangup := slices.Index(f.calls, "hangup "+b2+" normal")
				told2 := slices.Index(f.calls, "transfer-progress "+x1+" "+progressAnswered)
				f.mu.Unlock()
				if hangup < 0 || told2 < hangup {
					t.Errorf("consultation hung up at command %d, 102 told at %d; want the hangup first\n%s", hangup, told2, f.snapshot())
				}
				f.hangsUp(k)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name:   "REFER with Replaces: consultation leg never reported destroyed, the phone is told after a bounded wait",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.destroysSlowly(b2)
				f.attendedRefers(x1, "A", b2, k)
				deadline := time.Now().Add(destroyWait + 3*time.Second)
				for {
					f.mu.Lock()
					done := slices.Equal(f.progress[x1], []string{progressAnswered}) && f.channels[x1] == nil
					f.mu.Unlock()
					if done {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("102 not told within %v of its REFER\n%s", destroyWait+3*time.Second, f.snapshot())
					}
					time.Sleep(10 * time.Millisecond)
				}
				f.hangsUp(k)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			// The caller's bridge refuses the colleague (Asterisk lost it):
			// nobody can be connected; the transferer's phone is not sent a
			// NOTIFY while its consultation leg is being destroyed.
			name:   "REFER with Replaces: colleague cannot join the caller, everything ends, nothing left",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.mu.Lock()
				f.failOp["add"] = errors.New("bridge lost")
				f.mu.Unlock()
				f.attendedRefers(x1, "A", b2, k)
				f.eventually("every leg hung up, no bridge left", func() bool { return noneLeft(f) })
				f.mu.Lock()
				told := f.progress[x1]
				f.mu.Unlock()
				if len(told) > 0 {
					t.Errorf("102 told %v while its consultation leg was being destroyed\n%s", told, f.snapshot())
				}
			},
		},
		{
			name:   "REFER on the consultation dialog replacing the held call",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.attendedRefers(b2, k, x1, "A")
				f.eventually("A and 103 bridged, 102's legs hung up", func() bool {
					return bridgedLocked(f, "A", k) && f.channels[x1] == nil && f.channels[b2] == nil &&
						slices.Contains(f.progress[b2], progressAnswered)
				})
				f.hangsUp("A")
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "completed while the colleague rings: ringback, then connected on answer",
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.attendedRefers(x1, "A", b2, k)
				f.eventually("caller hears ringback, 102's legs gone", func() bool {
					return f.ringing["A"] && f.channels[x1] == nil && f.channels[b2] == nil &&
						slices.Contains(f.progress[x1], progressAnswered)
				})
				f.answers(k)
				f.eventually("A and 103 bridged, ringback stopped", func() bool { return bridgedLocked(f, "A", k) && !f.ringing["A"] })
				f.hangsUp("A")
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "completed while the colleague rings, nobody answers: colleague's voicemail",
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.attendedRefers(x1, "A", b2, k)
				f.eventually("102's legs gone", func() bool { return f.channels[x1] == nil && f.channels[b2] == nil })
				f.dialFails(k, "NOANSWER", 19)
				f.eventually("A in 103's voicemail", func() bool { return f.continued["A"] == "transferd-voicemail,103" })
			},
		},
		{
			name:   "Replaces naming no dialog is refused and changes nothing",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.attendedRefers(x1, "A", "", "")
				f.eventually("102 told 503", func() bool { return slices.Contains(f.progress[x1], progressUnavailable) })
				f.mu.Lock()
				ok := bridgedLocked(f, "A", x1) && bridgedLocked(f, b2, k)
				f.mu.Unlock()
				if !ok {
					t.Errorf("calls changed by a refused transfer\n%s", f.snapshot())
				}
				f.hangsUp(b2)
				f.hangsUp("A")
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name:   "Replaces naming another transferer's call is refused",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				// 104 calls 101 meanwhile; 102's REFER names 104's leg.
				f.phoneCalls("D", "104", "101")
				f.eventually("101 rings for 104", func() bool { return f.ringingLocked("PJSIP/101") })
				d2 := f.createdChannel("PJSIP/101")
				f.answers(d2)
				f.eventually("104 and 101 talk", func() bool { return bridgedLocked(f, "D", d2) })
				f.attendedRefers(x1, "A", "D", d2)
				f.eventually("102 told 603", func() bool { return slices.Contains(f.progress[x1], progressDeclined) })
				f.mu.Lock()
				ok := bridgedLocked(f, "A", x1) && bridgedLocked(f, b2, k) && bridgedLocked(f, "D", d2)
				f.mu.Unlock()
				if !ok {
					t.Errorf("calls changed by a refused transfer\n%s", f.snapshot())
				}
				for _, id := range []string{"A", b2, "D"} {
					f.hangsUp(id)
				}
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name:   "Resume: consultation hung up, the first call is untouched",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.hangsUp(b2)
				f.eventually("colleague hung up", func() bool { return f.channels[k] == nil })
				f.mu.Lock()
				ok := bridgedLocked(f, "A", x1)
				f.mu.Unlock()
				if !ok {
					t.Errorf("first call changed by the end of the consultation\n%s", f.snapshot())
				}
				f.hangsUp(x1)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name:   "caller hangs up while held: consultation goes on, a later REFER fails",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.hangsUp("A")
				f.eventually("first call gone", func() bool { return f.channels[x1] == nil })
				f.attendedRefers(b2, k, "", "") // Replaces names the ended call
				f.eventually("102 told 503", func() bool { return slices.Contains(f.progress[b2], progressUnavailable) })
				f.mu.Lock()
				ok := bridgedLocked(f, b2, k)
				f.mu.Unlock()
				if !ok {
					t.Errorf("consultation disturbed\n%s", f.snapshot())
				}
				f.hangsUp(k)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			// Which happened first decides: the consultation carries on
			// (the transfer failed), or the transfer completed and the
			// caller's hangup then ended the call, as any hangup does. The
			// colleague is never left in a half-done state.
			name:   "caller hangs up racing the REFER: consultation carries on, or completed then ended",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.attendedRefers(x1, "A", b2, k)
				f.hangsUp("A")
				f.eventually("first call gone", func() bool { return f.channels["A"] == nil && f.channels[x1] == nil })
				f.eventually("a consistent outcome", func() bool {
					carriesOn := f.channels[k] != nil && bridgedLocked(f, b2, k)
					completedThenEnded := slices.Contains(f.progress[x1], progressAnswered) && f.channels[k] == nil
					return carriesOn || completedThenEnded
				})
				f.hangsUp(k)
				f.hangsUp(b2)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name:   "transferer's phone hangs up right after its REFER: the transfer still completes",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.attendedRefers(x1, "A", b2, k)
				f.hangsUp(x1)
				f.eventually("A and 103 bridged, consultation leg hung up", func() bool {
					return bridgedLocked(f, "A", k) && f.channels[b2] == nil
				})
				f.hangsUp(k)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name:   "colleague hangs up racing the REFER: failure reported, caller kept",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.hangsUp(k)
				f.attendedRefers(x1, "A", b2, k)
				f.eventually("102 told the transfer failed", func() bool {
					p := f.progress[x1]
					return slices.Contains(p, progressDeclined) || slices.Contains(p, progressUnavailable)
				})
				f.mu.Lock()
				ok := bridgedLocked(f, "A", x1)
				f.mu.Unlock()
				if !ok {
					t.Errorf("first call changed by a failed transfer\n%s", f.snapshot())
				}
				f.hangsUp("A")
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name:   "transferer hangs up the held call during the consultation: completed",
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.hangsUp(x1)
				f.eventually("A and 103 bridged, consultation leg hung up", func() bool {
					return bridgedLocked(f, "A", k) && f.channels[b2] == nil
				})
				f.hangsUp(k)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name:   "transferer hangs up during the consultation, recall configured: rung back",
			cfg:    Config{TransfererHangup: TransfererHangupRecall},
			answer: true,
			run: func(t *testing.T, f *fakeAsterisk, x1, b2, k string) {
				f.hangsUp(x1)
				f.eventually("consultation ended, 102 rung back", func() bool {
					return f.channels[b2] == nil && f.channels[k] == nil && f.ringingLocked("PJSIP/102") && f.ringing["A"]
				})
				back := f.liveChannel("PJSIP/102")
				f.answers(back)
				f.eventually("A and 102 talk again", func() bool { return bridgedLocked(f, "A", back) })
				f.hangsUp("A")
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startEngine(t, tt.cfg)
			x1, b2, k := consulting(t, f, tt.answer)
			tt.run(t, f, x1, b2, k)
		})
	}
}

// matchCommands reports whether got are the commands want, where a "?"
// word matches any one word (an ID the test does not know).
func matchCommands(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		g, w := strings.Fields(got[i]), strings.Fields(want[i])
		if len(g) != len(w) {
			return false
		}
		for j := range w {
			if w[j] != "?" && w[j] != g[j] {
				return false
			}
		}
	}
	return true
}
