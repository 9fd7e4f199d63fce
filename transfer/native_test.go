package transfer

import (
	"strings"
	"testing"
)

// coreConfig puts every phone in core transfer handling (the fallback).
func coreConfig() Config { return Config{CoreExtensions: "."} }

func TestTransferHandlingIsSetPerPhone(t *testing.T) {
	for _, tt := range []struct {
		name, pattern string
		wantCallee    string // PJSIP_TRANSFER_HANDLING() of the dialled 102
		wantCaller    string // what transferd sets on 101's channel ("" = nothing)
	}{
		{"default: ari-only for every phone", "", "ari-only", ""},
		{"every phone falls back to core", ".", "core", "core"},
		{"only 102 falls back", "^102$", "core", ""},
		{"only 101 falls back", "^101$", "ari-only", "core"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := startEngine(t, Config{CoreExtensions: tt.pattern})
			_, callee := talking(t, f)
			f.mu.Lock()
			defer f.mu.Unlock()
			if got := f.vars[callee]["PJSIP_TRANSFER_HANDLING()"]; got != tt.wantCallee {
				t.Errorf("102's channel created with transfer handling %q, want %q", got, tt.wantCallee)
			}
			if got := f.vars["A"]["PJSIP_TRANSFER_HANDLING()"]; got != tt.wantCaller {
				t.Errorf("101's channel given transfer handling %q, want %q", got, tt.wantCaller)
			}
			for _, id := range []string{callee, "A"} {
				if h := f.vars[id]["PJSIP_TRANSFER_HANDLING()"]; h == "core" && f.vars[id]["TRANSFER_CONTEXT"] != DefaultTransferContext {
					t.Errorf("channel %s in core handling without TRANSFER_CONTEXT=%s: %v", id, DefaultTransferContext, f.vars[id])
				}
			}
		})
	}
}

func TestCoreBlindTransfer(t *testing.T) {
	for _, tt := range []struct {
		name        string
		destination string
		// check drives what follows Asterisk's own blind transfer of the
		// caller "A" by 102 (channel x1); local1 is the Local channel
		// Asterisk put in 102's place.
		check func(t *testing.T, f *fakeAsterisk, x1, local1 string)
	}{
		{
			name: "target answers: caller and target share the bridge, the Local pair is gone", destination: "103",
			check: func(t *testing.T, f *fakeAsterisk, x1, local1 string) {
				f.eventually("103 rings, caller hears ringback", func() bool { return f.ringingLocked("PJSIP/103") && f.ringing["A"] })
				k := f.createdChannel("PJSIP/103")
				f.answers(k)
				f.eventually("A and 103 talk", func() bool { return bridgedLocked(f, "A", k) })
				f.hangsUp(x1) // 102's phone hangs up once told
				f.hangsUp("A")
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "unknown number: Asterisk told 102 it worked, so 102 is rung back", destination: "199",
			check: func(t *testing.T, f *fakeAsterisk, x1, local1 string) {
				f.hangsUp(x1)
				var back string
				f.eventually("102 rung back", func() bool {
					back = ""
					for id, ch := range f.channels {
						if ch.created && ch.endpoint == "PJSIP/102" && id != x1 {
							back = id
						}
					}
					return back != "" && f.ringing["A"]
				})
				f.answers(back)
				f.eventually("A and 102 talk again", func() bool { return bridgedLocked(f, "A", back) })
				f.hangsUp(back)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "voicemail code: the caller goes to 103's voicemail", destination: "*8103",
			check: func(t *testing.T, f *fakeAsterisk, x1, local1 string) {
				f.eventually("A continued to 103's voicemail", func() bool {
					return f.continued["A"] == DefaultVoicemailContext+",103"
				})
				f.hangsUp(x1)
				f.eventually("nothing but the caller (in the dialplan) left", func() bool {
					return len(f.bridges) == 0 && len(f.channels) == 1 && f.channels["A"] != nil
				})
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := startEngine(t, coreConfig())
			_, x1 := talking(t, f)
			f.holds(x1)
			local1, local2 := f.coreBlindTransfers(x1, tt.destination)
			f.eventually("the Local pair removed", func() bool { return f.channels[local1] == nil && f.channels[local2] == nil })
			tt.check(t, f, x1, local1)
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.progress) != 0 {
				t.Errorf("transfer_progress posted in core handling: %v", f.progress)
			}
		})
	}
}

func TestCoreAttendedTransfer(t *testing.T) {
	t.Run("linked calls are joined: caller and colleague share one bridge", func(t *testing.T) {
		f := startEngine(t, coreConfig())
		x1, b2, k := consulting(t, f, true)
		l1, l2 := f.coreAttendedTransfers(x1, b2, true)
		f.eventually("A and 103 talk; Local pair and 102's held leg gone", func() bool {
			return bridgedLocked(f, "A", k) && len(f.bridges) == 1 &&
				f.channels[l1] == nil && f.channels[l2] == nil && f.channels[x1] == nil
		})
		f.hangsUp(k)
		f.eventually("everything gone", func() bool { return noneLeft(f) })
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.progress) != 0 {
			t.Errorf("transfer_progress posted in core handling: %v", f.progress)
		}
	})
	t.Run("the other half belongs to no call: the link goes and 102 is rung back", func(t *testing.T) {
		f := startEngine(t, coreConfig())
		x1, b2, k := consulting(t, f, true)
		l1, _ := f.coreAttendedTransfers(x1, b2, false)
		var back string
		f.eventually("102 rung back for the caller", func() bool {
			back = ""
			for id, ch := range f.channels {
				if ch.created && ch.endpoint == "PJSIP/102" && id != x1 {
					back = id
				}
			}
			return back != "" && f.channels[l1] == nil
		})
		f.answers(back)
		f.eventually("A and 102 talk again", func() bool { return bridgedLocked(f, "A", back) })
		for _, id := range []string{back, k, x1} {
			f.hangsUp(id)
		}
		f.eventually("everything gone", func() bool { return noneLeft(f) })
	})
}

func TestLocalChannelNames(t *testing.T) {
	for _, tt := range []struct{ name, exten, partner string }{
		{"Local/103@transferd-transfer-00000005;1", "103", "Local/103@transferd-transfer-00000005;2"},
		{"Local/_attended@transfer-0000002a;2", attendedLinkExten, "Local/_attended@transfer-0000002a;1"},
		{"Local/*8103@transferd-transfer-00000001;1", "*8103", "Local/*8103@transferd-transfer-00000001;2"},
	} {
		if got := localExten(tt.name); got != tt.exten {
			t.Errorf("localExten(%q) = %q, want %q", tt.name, got, tt.exten)
		}
		if got := localPartner(tt.name); got != tt.partner {
			t.Errorf("localPartner(%q) = %q, want %q", tt.name, got, tt.partner)
		}
	}
}

func TestCoreExtensionsMustBeARegularExpression(t *testing.T) {
	cfg := Config{CoreExtensions: "10[1"}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "transfer.core_extensions") {
		t.Fatalf("Validate() = %v, want an error naming transfer.core_extensions", err)
	}
}
