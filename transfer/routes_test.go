package transfer

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// Each node's engine takes the same routes table: an extension hosted on
// another node is dialled through that node's route, one hosted here (or
// by no route) with the dial template.
func TestRoutesSendOtherNodesExtensionsThere(t *testing.T) {
	routes := []Route{
		{Extensions: `^1\d\d$`, Node: "node1", Dial: "PJSIP/{exten}@node1"},
		{Extensions: `^2\d\d$`, Node: "node2", Dial: "PJSIP/{exten}@node2"},
	}
	for _, tt := range []struct{ node, exten, want string }{
		{"node1", "101", "PJSIP/101"},
		{"node1", "201", "PJSIP/201@node2"},
		{"node2", "201", "PJSIP/201"},
		{"node2", "102", "PJSIP/102@node1"},
		{"node1", "301", "PJSIP/301"}, // no route: here
	} {
		cfg := Config{Node: tt.node, Routes: routes}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		got, err := NewPatternRouter(cfg).Route(context.Background(), tt.exten)
		if err != nil || got != tt.want {
			t.Errorf("on %s, %s: %q %v, want %q", tt.node, tt.exten, got, err, tt.want)
		}
	}
}

func TestRoutesAreCheckedWithWhatToFix(t *testing.T) {
	for _, tt := range []struct {
		route Route
		want  string
	}{
		{Route{Extensions: `^2\d\d$`, Dial: "PJSIP/{exten}@node2"}, "routes[0]: node: missing"},
		{Route{Extensions: `^2\d\d$`, Node: "node2", Dial: "PJSIP/node2"}, `routes[0]: dial "PJSIP/node2": must contain {exten}`},
		{Route{Extensions: `^2(`, Node: "node2", Dial: "PJSIP/{exten}@node2"}, `routes[0]: extensions "^2("`},
		{Route{Node: "node2", Dial: "PJSIP/{exten}@node2"}, `routes[0]: extensions ""`},
	} {
		cfg := Config{Routes: []Route{tt.route}}
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.route, err, tt.want)
		}
	}
}

// An extension on another node rings longer here than there: that node's
// no-answer handling (its voicemail holds the mailbox) decides first.
func TestOtherNodesExtensionsRingLongerHere(t *testing.T) {
	cfg := Config{Node: "node1", AnswerTimeout: 20 * time.Second, Routes: []Route{
		{Extensions: `^1\d\d$`, Node: "node1", Dial: "PJSIP/{exten}@node1"},
		{Extensions: `^2\d\d$`, Node: "node2", Dial: "PJSIP/{exten}@node2"},
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.dialTimeout("102"); got != 20*time.Second {
		t.Errorf("102 (here): %s, want the answer timeout", got)
	}
	if got := cfg.dialTimeout("201"); got != 20*time.Second+remoteAnswerMargin {
		t.Errorf("201 (node2): %s, want the answer timeout and %s", got, remoteAnswerMargin)
	}
}

// node1CallingNode2: the engine serves node1 (1xx); 2xx are on node2,
// across the trunk, where 201 exists.
func node1CallingNode2(t *testing.T) (Config, *fakeAsterisk) {
	cfg := Config{Node: "node1", Routes: []Route{
		{Extensions: `^1\d\d$`, Node: "node1", Dial: "PJSIP/{exten}@node1"},
		{Extensions: `^2\d\d$`, Node: "node2", Dial: "PJSIP/{exten}@node2"},
	}}
	f := newFakeAsterisk(t)
	f.mu.Lock()
	f.endpoints["PJSIP/201@node2"] = true
	f.mu.Unlock()
	return cfg, f
}

// A call ringing an extension on another node is adopted by a successor
// (transferd killed meanwhile) with that extension, not the trunk's name
// Asterisk names its channel after: the load harness saw a successor take
// a cross-node consultation for a call to "node2" and refuse its
// hand-over by the transfer policy (603 to the phone).
func TestAnAdoptedLegToAnotherNodeKeepsItsExtension(t *testing.T) {
	cfg, f := node1CallingNode2(t)
	stop, _ := runEngine(t, f, cfg, nil, false)
	f.phoneCalls("A", "101", "201")
	f.eventually("201 dialled across the trunk", func() bool {
		id := f.createdChannelLocked("PJSIP/201@node2")
		return f.channels[id] != nil && f.channels[id].state == "Ringing"
	})
	callee := f.createdChannel("PJSIP/201@node2")
	stop()
	drain(f)

	stop2, e := runEngine(t, f, cfg, nil, true)
	defer stop2()
	f.answers(callee)
	f.eventually("A and 201 talk", func() bool { return bridgedLocked(f, "A", callee) })
	calls, err := e.Calls(context.Background())
	if err != nil || len(calls) != 1 {
		t.Fatalf("calls: %+v %v", calls, err)
	}
	var extens []string
	for _, p := range calls[0].Legs {
		extens = append(extens, p.Extension)
	}
	if !slices.Equal(extens, []string{"101", "201"}) {
		t.Errorf("adopted call's parties: %q, want [101 201]", extens)
	}
}

// A successor adopts a call whose leg to another node was dialled but
// does not ring yet (that node's transferd is being taken over too, so
// the leg is still Down): it leaves the leg to ring and does not dial it
// again, which ended it (load harness, nodes-kill.md: the caller went to
// voicemail instead of the extension).
func TestAnAdoptedLegToAnotherNodeDialledButNotRingingYetIsNotDialledAgain(t *testing.T) {
	f, callee, commands := adoptTrunkLegFoundDown(t, func(*fakeAsterisk, string) {}, func(*fakeAsterisk, string) {})
	leftToRingThenTalks(t, f, callee, commands, "marked dialled")
}

// leftToRingThenTalks checks that the successor left the leg to 201 as
// it was (not dialled again: why says why it should not be), and that
// 201's answer connects A and 201.
func leftToRingThenTalks(t *testing.T, f *fakeAsterisk, callee string, commands []string, why string) {
	t.Helper()
	f.mu.Lock()
	kept := f.channels[callee] != nil
	f.mu.Unlock()
	if slices.Contains(commands, "dial "+callee) || !kept {
		t.Fatalf("the leg to 201, %s, was dialled again: %q", why, commands)
	}
	f.answers(callee)
	f.eventually("A and 201 talk", func() bool { return bridgedLocked(f, "A", callee) })
}

// adoptTrunkLegFoundDown: 101 calls 201 across the trunk, whose leg is
// dialled and stays Down (trunksRingLate); then transferd is killed and
// a successor adopts the call with the leg as caught (caught, f.mu held:
// what the predecessor had done), while afterSnapshot says what changes
// before the successor acts. It returns the leg and the commands the
// successor sent, once its owner has taken the adoption in (f.mu free).
func adoptTrunkLegFoundDown(t *testing.T, caught, afterSnapshot func(f *fakeAsterisk, leg string)) (*fakeAsterisk, string, []string) {
	cfg, f := node1CallingNode2(t)
	f.mu.Lock()
	f.trunksRingLate = true
	f.mu.Unlock()
	stop, _ := runEngine(t, f, cfg, nil, false)
	f.phoneCalls("A", "101", "201")
	f.eventually("201 dialled across the trunk and marked", func() bool {
		id := f.createdChannelLocked("PJSIP/201@node2")
		return f.channels[id] != nil && f.vars[id][dialledVariable] == "1"
	})
	callee := f.createdChannel("PJSIP/201@node2")
	stop()
	drain(f)
	f.mu.Lock()
	caught(f, callee)
	f.afterSnapshot = func() { afterSnapshot(f, callee) }
	before := len(f.calls)
	f.mu.Unlock()

	stop2, e := runEngine(t, f, cfg, nil, true)
	t.Cleanup(stop2)
	if calls, err := e.Calls(context.Background()); err != nil || len(calls) != 1 {
		t.Fatalf("calls after adoption: %+v %v", calls, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f, callee, slices.Clone(f.calls[before:])
}

// Killed after its dial reached Asterisk but before the mark was written
// (under load a dial's answer can take a second: nodes-kill.md): the
// leg, Down in the snapshot, rings by the time the successor acts (the
// other node rang its phone), so it is not dialled again, which ended it.
func TestAnAdoptedUnmarkedLegThatRingsByNowIsNotDialledAgain(t *testing.T) {
	f, callee, commands := adoptTrunkLegFoundDown(t,
		func(f *fakeAsterisk, leg string) { delete(f.vars[leg], dialledVariable) },
		func(f *fakeAsterisk, leg string) { f.channels[leg].state = "Ringing" })
	leftToRingThenTalks(t, f, callee, commands, "dialled and ringing by now")
}

// A leg the predecessor created and never dialled (unmarked, never
// called, still Down when the successor acts) is dialled by it.
func TestAnAdoptedLegNeverDialledIsDialled(t *testing.T) {
	f, callee, commands := adoptTrunkLegFoundDown(t,
		func(f *fakeAsterisk, leg string) {
			delete(f.vars[leg], dialledVariable)
			f.channels[leg].called = false
		},
		func(*fakeAsterisk, string) {})
	f.mu.Lock()
	called := f.channels[callee] != nil && f.channels[callee].called
	f.mu.Unlock()
	if !slices.Contains(commands, "dial "+callee) || !called {
		t.Fatalf("the leg to 201, never dialled, was not dialled by the successor: %q", commands)
	}
	f.answers(callee)
	f.eventually("A and 201 talk", func() bool { return bridgedLocked(f, "A", callee) })
}
