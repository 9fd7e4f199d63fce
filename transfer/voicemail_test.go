package transfer

import (
	"slices"
	"testing"
	"time"
)

func TestVoicemailTransfer(t *testing.T) {
	fast := Config{DigitTimeout: 500 * time.Millisecond}
	tests := []struct {
		name string
		cfg  Config
		run  func(t *testing.T, f *fakeAsterisk, x1 string)
	}{
		{
			name: "*8103 then hang up: caller in 103's voicemail",
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.keys(x1, "*8")
				f.eventually("caller held with music, out of the bridge", func() bool {
					return f.music["A"] && !bridgedLocked(f, "A", x1)
				})
				f.keys(x1, "103")
				f.hangsUp(x1)
				f.eventually("caller in 103's voicemail", func() bool {
					return f.continued["A"] == "transferd-voicemail,103" && !f.music["A"]
				})
				f.eventually("nothing of transferd's left", func() bool { return len(f.bridges) == 0 })
			},
		},
		{
			name: "*8103# while on the line: caller in voicemail, user hung up",
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.keys(x1, "*8103#")
				f.eventually("caller in 103's voicemail, user hung up", func() bool {
					return f.continued["A"] == "transferd-voicemail,103" && f.hungUp[x1] != ""
				})
			},
		},
		{
			name: "callee's digits from the caller's side work too",
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.keys("A", "*8103#")
				f.eventually("102 in 103's voicemail", func() bool { return f.continued[x1] == "transferd-voicemail,103" })
			},
		},
		{
			name: "a * not followed by 8 is just a tone",
			cfg:  fast,
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.keys(x1, "*5103#")
				time.Sleep(700 * time.Millisecond)
				f.mu.Lock()
				defer f.mu.Unlock()
				if !bridgedLocked(f, "A", x1) || f.music["A"] || len(f.continued) > 0 {
					t.Errorf("call changed by digits that were no feature code\n%s", f.snapshot())
				}
			},
		},
		{
			name: "* then 8 too late is just tones",
			cfg:  fast,
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.keys(x1, "*")
				time.Sleep(800 * time.Millisecond)
				f.keys(x1, "8103#")
				time.Sleep(100 * time.Millisecond)
				f.mu.Lock()
				defer f.mu.Unlock()
				if !bridgedLocked(f, "A", x1) || f.music["A"] || len(f.continued) > 0 {
					t.Errorf("call changed by a late 8\n%s", f.snapshot())
				}
			},
		},
		{
			name: "invalid mailbox, user on the line: told, call resumes",
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.keys(x1, "*8199#")
				f.eventually("user hears invalid, caller back in the bridge", func() bool {
					return slices.Contains(f.played[x1], invalidMailboxPrompt) && bridgedLocked(f, "A", x1) && !f.music["A"]
				})
			},
		},
		{
			name: "no digits, user on the line: timeout, told, call resumes",
			cfg:  fast,
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.keys(x1, "*8")
				f.eventually("user hears invalid, caller back in the bridge", func() bool {
					return slices.Contains(f.played[x1], invalidMailboxPrompt) && bridgedLocked(f, "A", x1) && !f.music["A"]
				})
			},
		},
		{
			name: "invalid mailbox, user hung up: caller in the user's own voicemail",
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.keys(x1, "*8199")
				f.hangsUp(x1)
				f.eventually("caller in 102's voicemail", func() bool { return f.continued["A"] == "transferd-voicemail,102" })
			},
		},
		{
			name: "no digits, user hung up: configured fallback mailbox",
			cfg:  Config{VoicemailFallback: "103"},
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.keys(x1, "*8")
				f.hangsUp(x1)
				f.eventually("caller in 103's voicemail", func() bool { return f.continued["A"] == "transferd-voicemail,103" })
			},
		},
		{
			name: "fallback has no mailbox either: the user is rung back",
			cfg:  Config{VoicemailFallback: "104"},
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.keys(x1, "*8")
				f.hangsUp(x1)
				f.eventually("102 rung back, caller hears ringing", func() bool {
					return f.ringingLocked("PJSIP/102") && f.ringing["A"] && len(f.continued) == 0
				})
				f.hangsUp("A")
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "caller hangs up while held for *8: everything ends",
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.keys(x1, "*81")
				f.eventually("caller held", func() bool { return f.music["A"] })
				f.hangsUp("A")
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "REFER to *8103: caller in 103's voicemail, transferer told 200",
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.holds(x1)
				f.refers(x1, "A", "*8103")
				f.eventually("caller in 103's voicemail", func() bool {
					return f.continued["A"] == "transferd-voicemail,103" && slices.Contains(f.progress[x1], progressAnswered) && f.hungUp[x1] != ""
				})
			},
		},
		{
			name: "REFER to *8199 (no mailbox): refused, nothing changes",
			run: func(t *testing.T, f *fakeAsterisk, x1 string) {
				f.holds(x1)
				f.refers(x1, "A", "*8199")
				f.eventually("102 told 603", func() bool { return slices.Contains(f.progress[x1], progressDeclined) })
				f.mu.Lock()
				defer f.mu.Unlock()
				if !bridgedLocked(f, "A", x1) || len(f.continued) > 0 {
					t.Errorf("call changed by a refused voicemail transfer\n%s", f.snapshot())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startEngine(t, tt.cfg)
			_, x1 := talking(t, f)
			tt.run(t, f, x1)
		})
	}
}
