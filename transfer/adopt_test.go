package transfer

import (
	"slices"
	"testing"
)

func TestAdoptionAfterRestart(t *testing.T) {
	tests := []struct {
		name string
		// before runs on the first transferd, which then stops.
		before func(t *testing.T, f *fakeAsterisk) (x1, k string)
		// after runs on the successor, which adopted the calls.
		after func(t *testing.T, f *fakeAsterisk, x1, k string)
		// afterGone, with after nil: x1 hangs up while no transferd
		// listens; afterGone runs on the successor.
		afterGone func(t *testing.T, f *fakeAsterisk, x1, k string)
		// meanwhile, if set, happens while no transferd listens (its
		// events are lost).
		meanwhile func(f *fakeAsterisk, x1, k string)
	}{
		{
			name: "talking call: keeps talking, hangup cleans up",
			before: func(t *testing.T, f *fakeAsterisk) (string, string) {
				_, x1 := talking(t, f)
				return x1, ""
			},
			after: func(t *testing.T, f *fakeAsterisk, x1, _ string) {
				f.mu.Lock()
				ok := bridgedLocked(f, "A", x1)
				f.mu.Unlock()
				if !ok {
					t.Fatalf("adopted call not bridged\n%s", f.snapshot())
				}
				f.hangsUp("A")
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "talking call: a new blind transfer works",
			before: func(t *testing.T, f *fakeAsterisk) (string, string) {
				_, x1 := talking(t, f)
				return x1, ""
			},
			after: func(t *testing.T, f *fakeAsterisk, x1, _ string) {
				f.refers(x1, "A", "103")
				f.eventually("103 rings", func() bool { return f.ringingLocked("PJSIP/103") })
				k := f.createdChannel("PJSIP/103")
				f.answers(k)
				f.eventually("A and 103 talk", func() bool { return bridgedLocked(f, "A", k) && slices.Contains(f.progress[x1], progressAnswered) })
				f.hangsUp(k)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "consultation: the transferer hanging up the held call completes the transfer (hold state survives)",
			before: func(t *testing.T, f *fakeAsterisk) (string, string) {
				x1, _, k := consulting(t, f, true)
				f.eventually("hold remembered in Asterisk", func() bool { return f.vars[x1][holdVariable] == "1" })
				return x1, k
			},
			after: func(t *testing.T, f *fakeAsterisk, x1, k string) {
				f.hangsUp(x1)
				f.eventually("A and 103 talk", func() bool { return bridgedLocked(f, "A", k) && f.channels["B2"] == nil })
				f.hangsUp(k)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "blind transfer ringing: still rings with ringback, connects on answer",
			before: func(t *testing.T, f *fakeAsterisk) (string, string) {
				_, x1 := talking(t, f)
				f.refers(x1, "A", "103")
				f.eventually("103 rings", func() bool { return f.ringingLocked("PJSIP/103") && f.ringing["A"] })
				return x1, f.createdChannel("PJSIP/103")
			},
			after: func(t *testing.T, f *fakeAsterisk, _, k string) {
				f.answers(k)
				f.eventually("A and 103 talk", func() bool { return bridgedLocked(f, "A", k) && !f.ringing["A"] })
				f.hangsUp("A")
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "*8 being keyed: the user keys the rest, the held party lands in that mailbox",
			before: func(t *testing.T, f *fakeAsterisk) (string, string) {
				_, x1 := talking(t, f)
				f.keys(x1, "*81")
				f.eventually("the entry recorded on A", func() bool { return f.music["A"] && f.vars["A"][voicemailVariable] == "102:1" })
				return x1, ""
			},
			after: func(t *testing.T, f *fakeAsterisk, x1, _ string) {
				f.keys(x1, "03")
				f.hangsUp(x1)
				f.eventually("A in 103's voicemail", func() bool {
					return f.continued["A"] == "transferd-voicemail,103" && !f.music["A"]
				})
				f.eventually("nothing of transferd's left", func() bool { return len(f.bridges) == 0 })
			},
		},
		{
			name: "*8 keyed, then the user hung up while nobody listened: the held party lands in that mailbox",
			before: func(t *testing.T, f *fakeAsterisk) (string, string) {
				_, x1 := talking(t, f)
				f.keys(x1, "*8103")
				f.eventually("the entry recorded on A", func() bool { return f.vars["A"][voicemailVariable] == "102:103" })
				return x1, ""
			},
			after: nil, // the user's hangup happens while nobody listens
			afterGone: func(t *testing.T, f *fakeAsterisk, _, _ string) {
				f.eventually("A in 103's voicemail", func() bool {
					return f.continued["A"] == "transferd-voicemail,103" && !f.music["A"]
				})
				f.eventually("nothing of transferd's left", func() bool { return len(f.bridges) == 0 })
			},
		},
		{
			name: "*8 being keyed but not recorded (an older transferd): reverted, the held party is back and hears no music",
			before: func(t *testing.T, f *fakeAsterisk) (string, string) {
				_, x1 := talking(t, f)
				f.keys(x1, "*8")
				f.eventually("A held with music", func() bool { return f.music["A"] && f.vars["A"][voicemailVariable] == "102:" })
				f.mu.Lock()
				delete(f.vars["A"], voicemailVariable)
				f.mu.Unlock()
				return x1, ""
			},
			after: func(t *testing.T, f *fakeAsterisk, x1, _ string) {
				f.eventually("A back with 102", func() bool { return bridgedLocked(f, "A", x1) && !f.music["A"] })
				f.hangsUp(x1)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "callee ringing: answered, they talk",
			before: func(t *testing.T, f *fakeAsterisk) (string, string) {
				f.phoneCalls("A", "101", "102")
				f.eventually("102 rings", func() bool { return f.ringingLocked("PJSIP/102") })
				return "", f.createdChannel("PJSIP/102")
			},
			after: func(t *testing.T, f *fakeAsterisk, _, k string) {
				f.answers(k)
				f.eventually("A and 102 talk", func() bool { return bridgedLocked(f, "A", k) })
				f.hangsUp(k)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "callee answered while nobody listened: the caller is answered, they talk",
			before: func(t *testing.T, f *fakeAsterisk) (string, string) {
				f.phoneCalls("A", "101", "102")
				f.eventually("102 rings", func() bool { return f.ringingLocked("PJSIP/102") })
				return "", f.createdChannel("PJSIP/102")
			},
			meanwhile: func(f *fakeAsterisk, _, k string) { f.answers(k) },
			after: func(t *testing.T, f *fakeAsterisk, _, k string) {
				f.eventually("A answered, no ringback, A and 102 talk", func() bool {
					return f.channels["A"].state == "Up" && !f.ringing["A"] && bridgedLocked(f, "A", k)
				})
				f.hangsUp(k)
				f.eventually("everything gone", func() bool { return noneLeft(f) })
			},
		},
		{
			name: "a party alone in its bridge (the other hung up meanwhile): ended",
			before: func(t *testing.T, f *fakeAsterisk) (string, string) {
				_, x1 := talking(t, f)
				return x1, ""
			},
			after: nil, // see below: the hangup happens while nobody listens
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAsterisk(t)
			stop, _ := runEngine(t, f, Config{}, nil, false)
			x1, k := tt.before(t, f)
			stop()
			if tt.meanwhile != nil {
				tt.meanwhile(f, x1, k)
			}
			if tt.after == nil {
				// 102 hangs up while no transferd listens: Asterisk
				// removes the channel; its events are lost.
				f.mu.Lock()
				delete(f.channels, x1)
				for _, m := range f.bridges {
					delete(m, x1)
				}
				f.mu.Unlock()
			}
			drain(f)
			stop2, _ := runEngine(t, f, Config{}, nil, true)
			defer stop2()
			if tt.afterGone != nil {
				tt.afterGone(t, f, x1, k)
				return
			}
			if tt.after == nil {
				f.eventually("the lonely caller hung up, bridge gone", func() bool { return noneLeft(f) })
				return
			}
			tt.after(t, f, x1, k)
		})
	}
}

// drain drops the events the stopped transferd never read: Asterisk does
// not replay them to a successor.
func drain(f *fakeAsterisk) {
	for {
		select {
		case <-f.events:
		default:
			return
		}
	}
}

// Given a caller waiting in Stasis that no transferd handled (outbound
// mode: it called while none was connected) and whose channel id starts
// with the app's name (Asterisk's ids start with its system name: the
// sandbox's "transferd-sandbox-..."), when transferd adopts, then the
// caller is taken as a new call, not hung up as a leg of a gone call.
func TestAdoptionTakesAnUnhandledCallerAsANewCall(t *testing.T) {
	f := newFakeAsterisk(t)
	const caller = "transferd-sandbox-1796125719.0"
	f.mu.Lock()
	f.channels[caller] = &fakeChannel{id: caller, endpoint: "PJSIP/101", state: "Ring"}
	f.mu.Unlock()
	stop, _ := runEngine(t, f, Config{}, nil, true)
	defer stop()
	f.eventually("the caller handled as a call of its own", func() bool { return f.vars[caller]["TRANSFERD_CALL"] != "" })
	f.eventually("a wait the dialplan bounded is cleared", func() bool { return f.vars[caller]["TIMEOUT(absolute)"] == "0" })
	f.mu.Lock()
	dropped := slices.Contains(f.calls, "hangup "+caller+" normal")
	f.mu.Unlock()
	if dropped {
		t.Fatalf("the waiting caller was hung up as a leg of a gone call\n%s", f.snapshot())
	}
}

// Given a call the predecessor was setting up when it died (the caller in
// Stasis, the call's bridge created, the callee's leg not yet), when the
// successor adopts it, then it sets the call up again: the callee rings,
// the caller is not hung up, the old bridge is gone.
func TestAdoptionSetsUpAgainACallCaughtMidSetUp(t *testing.T) {
	t.Run("bridge created", func(t *testing.T) { testAdoptionSetsUpAgain(t, true) })
	// (The caller already marked with its call, the bridge not created.)
	t.Run("no bridge yet", func(t *testing.T) { testAdoptionSetsUpAgain(t, false) })
}

func testAdoptionSetsUpAgain(t *testing.T, withBridge bool) {
	f := newFakeAsterisk(t)
	stop, _ := runEngine(t, f, Config{}, nil, false)
	f.phoneCalls("A", "101", "102")
	f.eventually("102 rings", func() bool { return f.ringingLocked("PJSIP/102") })
	stop()
	drain(f)
	f.mu.Lock()
	callee := ""
	for id, ch := range f.channels {
		if ch.created {
			callee = id
		}
	}
	var oldBridge string
	for id := range f.bridges {
		oldBridge = id
		delete(f.bridges[id], callee)
		if !withBridge {
			delete(f.bridges, id)
		}
	}
	delete(f.channels, callee) // (never created, as far as Asterisk knows)
	f.mu.Unlock()
	stop2, _ := runEngine(t, f, Config{}, nil, true)
	defer stop2()
	f.eventually("102 rings again, the old bridge destroyed", func() bool {
		return f.ringingLocked("PJSIP/102") && f.bridges[oldBridge] == nil
	})
	f.mu.Lock()
	dropped := slices.Contains(f.calls, "hangup A normal")
	f.mu.Unlock()
	if dropped {
		t.Fatalf("the caller was hung up\n%s", f.snapshot())
	}
	f.mu.Lock()
	var k string
	for id, ch := range f.channels {
		if ch.created {
			k = id // (the new leg: the first is gone)
		}
	}
	f.mu.Unlock()
	f.answers(k)
	f.eventually("A and 102 talk", func() bool { return bridgedLocked(f, "A", k) })
	f.hangsUp("A")
	f.eventually("everything gone", func() bool { return noneLeft(f) })
}

// After an attended transfer the colleague (created for, and marked with,
// the consultation call) talks in the transferee's bridge, and the
// consultation's own bridge may still exist, empty. A successor adopts the
// colleague with the bridge it is in: the pair keeps talking, and it is
// hung up like any leg transferd created when the call ends.
func TestAdoptionKeepsAColleagueInTheBridgeItWasMovedTo(t *testing.T) {
	f := newFakeAsterisk(t)
	stop, _ := runEngine(t, f, Config{}, nil, false)
	x1, b2, k := consulting(t, f, true)
	f.attendedRefers(x1, "A", b2, k)
	f.eventually("A and 103 bridged, 102's legs gone", func() bool {
		return bridgedLocked(f, "A", k) && f.channels[x1] == nil && f.channels[b2] == nil
	})
	stop()
	f.mu.Lock()
	consultCall := f.vars[k]["TRANSFERD_CALL"]
	leftover := "transferd-" + consultCall + "-bridge1"
	if f.bridges[leftover] == nil {
		// (The consultation's bridge, still there when the predecessor
		// died before destroying it.)
		f.bridges[leftover] = map[string]bool{}
		f.names[leftover] = "transferd/" + consultCall
	}
	f.bridgesNewestFirst = true // the consultation's bridge comes first
	f.mu.Unlock()
	drain(f)
	stop2, _ := runEngine(t, f, Config{}, nil, true)
	defer stop2()
	f.eventually("the leftover bridge is destroyed", func() bool { return f.bridges[leftover] == nil })
	f.mu.Lock()
	talking := bridgedLocked(f, "A", k) && f.hungUp[k] == ""
	f.mu.Unlock()
	if !talking {
		t.Fatalf("the transferred pair was broken up by the successor\n%s", f.snapshot())
	}
	f.hangsUp("A")
	f.eventually("103 hung up with the call, nothing left", func() bool { return noneLeft(f) })
}
