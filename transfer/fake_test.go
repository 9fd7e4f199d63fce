package transfer

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transferd/transferd/ari"
)

// fakeAsterisk answers the engine like Asterisk does: it keeps channels,
// bridges and playbacks, returns 404 for what does not exist, and raises
// the events Asterisk would (a hung-up channel's StasisEnd and
// ChannelDestroyed) on the engine's event stream. Tests inject the phones'
// side (answer, busy, REFER) with the helpers in fake_phones_test.go and
// assert outcomes (fake_observe_test.go): who is in which bridge, what was
// hung up and why, what the transferer's phone was told.
//
// This file holds the fake's state and its command log; its Asterisk
// methods are in fake_channels_test.go, fake_sounds_test.go,
// fake_refer_test.go and fake_bridges_test.go.
type fakeAsterisk struct {
	t      *testing.T
	events chan ari.Event

	mu        sync.Mutex
	endpoints map[string]bool            // dial strings that exist and are registered
	offline   map[string]bool            // dial strings that exist but are not registered
	channels  map[string]*fakeChannel    // live channels by id
	bridges   map[string]map[string]bool // bridge id → channel ids
	ringing   map[string]bool            // channels hearing ringing
	hungUp    map[string]string          // channel id → hangup reason
	continued map[string]string          // channel id → "context,exten"
	progress  map[string][]string        // channel id → transfer_progress states
	connected map[string]string          // channel id → connected line shown
	music     map[string]bool            // channels hearing music on hold
	played    map[string][]string        // channel id → media played
	mailboxes map[string]bool            // "103@default"
	vars      map[string]map[string]string
	names     map[string]string // bridge id → name
	deaf      map[string]bool   // bridges created without DTMF events
	calls     []string          // every command, in order
	failOp    map[string]error  // op name → error to return
	// localPartner links the halves of Local pairs (core transfers).
	localPartner map[string]string
	// slowDestroy: channels whose ChannelDestroyed waits for
	// destroyed(id) after their hangup; undestroyed holds their causes.
	slowDestroy map[string]bool
	undestroyed map[string]int
	// referPending: phones whose latest REFER was sent (its
	// ChannelTransfer) and not yet awaited (AwaitReferHandled): a progress
	// report then is one Asterisk 22.10.1 may crash on, unless it is for
	// an earlier REFER that was awaited (awaitedSinceProgress): a phone
	// may send a new REFER before the engine reports on its previous one,
	// and the engine cannot know before the new ChannelTransfer arrives.
	referPending         map[string]bool
	awaitedSinceProgress map[string]bool
	// pendingRefers: the REFER pending on each phone's channel (Asterisk
	// keeps it in a framehook until a final state is posted): a progress
	// report on it raises ChannelTransfer again, with the REFER's details
	// and the posted state; on a channel with none it does nothing.
	pendingRefers map[string]*ari.ChannelTransfer
	// bridgesNewestFirst: Snapshot lists bridges in reverse id order
	// (Asterisk promises no order; adoption must not depend on it).
	bridgesNewestFirst bool
	// referBusy: phones whose REFER Asterisk is still taking in: their
	// AwaitReferHandled returns once the channel is closed (takesReferIn).
	referBusy map[string]chan struct{}
	// version is what Version reports ("22.11.0" unless a test says).
	version string
	// holding: channels whose phone holds the call (holds, unholds);
	// swappedOut: phones' channels Asterisk took out of their call and
	// put a Local channel in place of (core handling): told the transfer
	// worked, those phones hang up by themselves. What a person on the
	// call hears depends on both (the fuzz's invariants).
	holding    map[string]bool
	swappedOut map[string]bool
	// trunksRingLate: a leg dialled across a trunk (PJSIP/201@node2)
	// stays Down, not ringing, as while the other node's transferd is
	// being taken over.
	trunksRingLate bool
	// afterSnapshot, when set, runs as Snapshot returns, f.mu held: what
	// changes in Asterisk between the snapshot and what the successor does
	// with it.
	afterSnapshot func()
	// latency: how long each command takes, one at a time (Asterisk
	// serves REST over its WebSocket on one thread); 0: none.
	latency time.Duration
}

type fakeChannel struct {
	id, endpoint, state string
	created             bool   // created by the engine (vs. a phone's call)
	called              bool   // dialled by the engine
	dialled             string // a phone's call: the extension it dialled
}

func newFakeAsterisk(t *testing.T) *fakeAsterisk {
	return &fakeAsterisk{
		t:            t,
		events:       make(chan ari.Event, 1000),
		endpoints:    map[string]bool{"PJSIP/101": true, "PJSIP/102": true, "PJSIP/103": true, "PJSIP/104": true},
		offline:      map[string]bool{"PJSIP/105": true},
		channels:     map[string]*fakeChannel{},
		bridges:      map[string]map[string]bool{},
		ringing:      map[string]bool{},
		hungUp:       map[string]string{},
		continued:    map[string]string{},
		progress:     map[string][]string{},
		connected:    map[string]string{},
		music:        map[string]bool{},
		played:       map[string][]string{},
		mailboxes:    map[string]bool{"101@default": true, "102@default": true, "103@default": true},
		vars:         map[string]map[string]string{},
		names:        map[string]string{},
		deaf:         map[string]bool{},
		failOp:       map[string]error{},
		referPending: map[string]bool{}, awaitedSinceProgress: map[string]bool{},
		pendingRefers: map[string]*ari.ChannelTransfer{},
		referBusy:     map[string]chan struct{}{},
		version:       "22.11.0",

		localPartner: map[string]string{},
		slowDestroy:  map[string]bool{},
		undestroyed:  map[string]int{},
		holding:      map[string]bool{},
		swappedOut:   map[string]bool{},
	}
}

func notFound(op, id, what string) error {
	return &ari.Error{Op: op, ID: id, Status: http.StatusNotFound, Message: what + " not found"}
}

func (f *fakeAsterisk) record(op string, args ...any) error {
	parts := []string{op}
	for _, a := range args {
		parts = append(parts, fmt.Sprint(a))
	}
	f.calls = append(f.calls, strings.Join(parts, " "))
	if f.latency > 0 {
		time.Sleep(f.latency) // (under f.mu: one command at a time)
	}
	return f.failOp[op]
}
