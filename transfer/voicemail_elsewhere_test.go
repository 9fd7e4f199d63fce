package transfer

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// node1 hosts 1XX, node2 2XX: a voicemail transfer to 201 on node1's
// engine dials node2's voicemail over the trunk, the route's dial string
// with the code before the extension.
var voicemailNodes = Config{Node: "node1", Routes: []Route{
	{Extensions: `^1\d\d$`, Node: "node1", Dial: "PJSIP/{exten}@node1"},
	{Extensions: `^2\d\d$`, Node: "node2", Dial: "PJSIP/{exten}@node2"},
}}

const node2Voicemail = "PJSIP/*8201@node2"

func TestMailboxElsewhereFollowsTheRoutes(t *testing.T) {
	for _, tt := range []struct {
		node, code, exten, want string
	}{
		{"node1", "", "201", node2Voicemail},
		{"node1", "*9", "201", "PJSIP/*9201@node2"},
		{"node1", "", "101", ""}, // this node's
		{"node2", "", "201", ""},
		{"node2", "", "102", "PJSIP/*8102@node1"},
		{"node1", "", "301", ""}, // no route: this node's
	} {
		cfg := voicemailNodes
		cfg.Node, cfg.VoicemailCode = tt.node, tt.code
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		got, ok := cfg.mailboxElsewhere(tt.exten)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("on %s, mailbox %s: %q %v, want %q", tt.node, tt.exten, got, ok, tt.want)
		}
	}
}

// Issue #24: "*8 voicemail transfers to an extension on another node work
// with the same phone keys".
func TestVoicemailTransferToAnotherNode(t *testing.T) {
	start := func(t *testing.T) (f *fakeAsterisk, x1 string) {
		f = startEngine(t, voicemailNodes)
		f.mu.Lock()
		f.endpoints[node2Voicemail] = true
		f.mu.Unlock()
		_, x1 = talking(t, f)
		return f, x1
	}
	// askedThisAsterisk reports whether the engine checked a mailbox
	// with this node's Asterisk (node2's are node2's to check).
	askedThisAsterisk := func(f *fakeAsterisk) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.ContainsFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "mailbox ") })
	}
	t.Run("*8201 then hang up: the caller talks to node2's voicemail", func(t *testing.T) {
		f, x1 := start(t)
		f.keys(x1, "*8201")
		f.hangsUp(x1)
		f.eventually("node2's voicemail rings, the caller held with music", func() bool {
			return f.ringingLocked(node2Voicemail) && f.music["A"]
		})
		vm := f.createdChannel(node2Voicemail)
		f.answers(vm)
		f.eventually("the caller and node2's voicemail bridged, music off", func() bool {
			return bridgedLocked(f, "A", vm) && !f.music["A"] && len(f.continued) == 0
		})
		if askedThisAsterisk(f) {
			t.Error("the mailbox was checked on node1's Asterisk")
		}
		f.hangsUp("A")
		f.eventually("everything gone", func() bool { return noneLeft(f) })
	})
	t.Run("*8201#: the user is hung up, the caller reaches node2's voicemail", func(t *testing.T) {
		f, x1 := start(t)
		f.keys(x1, "*8201#")
		f.eventually("102 hung up, node2's voicemail rings", func() bool {
			return f.hungUp[x1] != "" && f.ringingLocked(node2Voicemail)
		})
		vm := f.createdChannel(node2Voicemail)
		f.answers(vm)
		f.eventually("the caller and node2's voicemail bridged", func() bool { return bridgedLocked(f, "A", vm) })
	})
	t.Run("node2 has no such mailbox: the user is rung back, not the caller dropped", func(t *testing.T) {
		f, x1 := start(t)
		f.keys(x1, "*8201")
		f.hangsUp(x1)
		f.eventually("node2's voicemail rings", func() bool { return f.ringingLocked(node2Voicemail) })
		f.dialFails(f.createdChannel(node2Voicemail), "CHANUNAVAIL", 20)
		f.eventually("102 rung back for the caller", func() bool {
			return f.ringingLocked("PJSIP/102") && f.channels["A"] != nil && len(f.continued) == 0
		})
		back := f.liveChannel("PJSIP/102")
		f.answers(back)
		f.eventually("the caller and 102 talk again", func() bool { return bridgedLocked(f, "A", back) })
	})
	t.Run("REFER to *8201: transferer told 200, the caller reaches node2's voicemail", func(t *testing.T) {
		f, x1 := start(t)
		f.holds(x1)
		f.refers(x1, "A", "*8201")
		f.eventually("102 told 200, node2's voicemail rings", func() bool {
			return slices.Contains(f.progress[x1], progressAnswered) && f.ringingLocked(node2Voicemail)
		})
		f.hangsUp(x1)
		vm := f.createdChannel(node2Voicemail)
		f.answers(vm)
		f.eventually("the caller and node2's voicemail bridged", func() bool { return bridgedLocked(f, "A", vm) })
		if askedThisAsterisk(f) {
			t.Error("the mailbox was checked on node1's Asterisk")
		}
	})
	t.Run("REFER to *8201, trunk down: refused, nothing changes", func(t *testing.T) {
		f := startEngine(t, voicemailNodes) // (no endpoint: the trunk is not there)
		_, x1 := talking(t, f)
		f.holds(x1)
		f.refers(x1, "A", "*8201")
		f.eventually("102 told 503", func() bool { return slices.Contains(f.progress[x1], progressUnavailable) })
		f.mu.Lock()
		defer f.mu.Unlock()
		if !bridgedLocked(f, "A", x1) || len(f.continued) > 0 {
			t.Errorf("call changed by a voicemail transfer that could not be dialled\n%s", f.snapshot())
		}
	})
	t.Run("API: the receptionist leaves, the caller reaches node2's voicemail", func(t *testing.T) {
		f, e, id, x1 := apiEngine(t, voicemailNodes, Options{})
		f.mu.Lock()
		f.endpoints[node2Voicemail] = true
		f.mu.Unlock()
		if _, err := e.StartTransfer(context.Background(), id, TransferCommand{Kind: KindVoicemail, Destination: "201"}); err != nil {
			t.Fatal(err)
		}
		f.eventually("102 gone, node2's voicemail rings, the caller hears ringing", func() bool {
			return f.channels[x1] == nil && f.ringingLocked(node2Voicemail) && f.ringing["A"]
		})
		vm := f.createdChannel(node2Voicemail)
		f.answers(vm)
		f.eventually("the caller and node2's voicemail bridged", func() bool { return bridgedLocked(f, "A", vm) && !f.ringing["A"] })
	})
}
