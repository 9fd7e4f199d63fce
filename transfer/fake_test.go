package transfer

import (
	"context"
	"fmt"
	"net/http"
	"slices"
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
// side (answer, busy, REFER) with the helpers below and assert outcomes:
// who is in which bridge, what was hung up and why, what the transferer's
// phone was told.
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
	// bridgesNewestFirst: Snapshot lists bridges in reverse id order
	// (Asterisk promises no order; adoption must not depend on it).
	bridgesNewestFirst bool
	// referBusy: phones whose REFER Asterisk is still taking in: their
	// AwaitReferHandled returns once the channel is closed (takesReferIn).
	referBusy map[string]chan struct{}
	// version is what Version reports ("22.11.0" unless a test says).
	version string
}

type fakeChannel struct {
	id, endpoint, state string
	created             bool   // created by the engine (vs. a phone's call)
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
		failOp:       map[string]error{},
		referPending: map[string]bool{}, awaitedSinceProgress: map[string]bool{},
		referBusy: map[string]chan struct{}{},
		version:   "22.11.0",

		localPartner: map[string]string{},
		slowDestroy:  map[string]bool{},
		undestroyed:  map[string]int{},
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
	return f.failOp[op]
}

func (f *fakeAsterisk) CreateChannel(_ context.Context, spec ChannelSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("create", spec.ID, spec.Endpoint); err != nil {
		return err
	}
	if h := spec.Variables["PJSIP_TRANSFER_HANDLING()"]; h != "ari-only" && h != "core" {
		f.t.Errorf("channel %s created with transfer handling %q", spec.Endpoint, h)
	}
	if !f.endpoints[spec.Endpoint] {
		// What Asterisk 22 answers for unknown and unregistered endpoints alike.
		return &ari.Error{Op: "create channel", ID: spec.ID, Status: http.StatusInternalServerError, Message: "Allocation failed"}
	}
	f.channels[spec.ID] = &fakeChannel{id: spec.ID, endpoint: spec.Endpoint, state: "Down", created: true}
	f.vars[spec.ID] = map[string]string{}
	for k, v := range spec.Variables {
		f.vars[spec.ID][k] = v
	}
	// The channel enters Stasis after the request returns.
	f.events <- &ari.StasisStart{Channel: ari.Channel{ID: spec.ID, Name: spec.Endpoint + "-0001", State: "Down"}}
	return nil
}

func (f *fakeAsterisk) EndpointExists(_ context.Context, dialString string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("endpoint", dialString); err != nil {
		return false, err
	}
	return f.endpoints[dialString] || f.offline[dialString], nil
}

func (f *fakeAsterisk) Dial(_ context.Context, id, caller string, timeout time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("dial", id); err != nil {
		return err
	}
	ch := f.channels[id]
	if ch == nil {
		return notFound("dial", id, "Channel")
	}
	if !ch.created {
		return &ari.Error{Op: "dial", ID: id, Status: http.StatusConflict, Message: "Channel not in Stasis application"}
	}
	ch.state = "Ringing"
	return nil
}

func (f *fakeAsterisk) Answer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("answer", id); err != nil {
		return err
	}
	ch := f.channels[id]
	if ch == nil {
		return notFound("answer", id, "Channel")
	}
	ch.state = "Up"
	delete(f.ringing, id) // answering ends the ringback
	return nil
}

func (f *fakeAsterisk) Ring(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ring", id); err != nil {
		return err
	}
	if f.channels[id] == nil {
		return notFound("ring", id, "Channel")
	}
	f.ringing[id] = true
	return nil
}

func (f *fakeAsterisk) RingStop(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("ring-stop", id); err != nil {
		return err
	}
	if f.channels[id] == nil {
		return notFound("ring stop", id, "Channel")
	}
	delete(f.ringing, id)
	return nil
}

func (f *fakeAsterisk) Hangup(_ context.Context, id, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("hangup", id, reason); err != nil {
		return err
	}
	if f.channels[id] == nil {
		return notFound("hangup", id, "Channel")
	}
	f.hungUp[id] = reason
	f.gone(id, 16)
	if partner := f.localPartner[id]; partner != "" && f.channels[partner] != nil {
		f.gone(partner, 16) // a Local pair goes together
	}
	return nil
}

// gone removes a channel and raises its events, as Asterisk does. The
// caller holds f.mu.
func (f *fakeAsterisk) gone(id string, cause int) {
	delete(f.channels, id)
	delete(f.ringing, id)
	delete(f.music, id)
	for _, members := range f.bridges {
		delete(members, id)
	}
	ch := ari.Channel{ID: id, State: "Up"}
	f.events <- &ari.ChannelHangupRequest{Channel: ch, Cause: cause}
	f.events <- &ari.StasisEnd{Channel: ch}
	if f.slowDestroy[id] {
		f.undestroyed[id] = cause
		return
	}
	f.events <- &ari.ChannelDestroyed{Channel: ch, Cause: cause}
}

// destroysSlowly holds back id's ChannelDestroyed after its hangup until
// destroyed(id).
func (f *fakeAsterisk) destroysSlowly(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slowDestroy[id] = true
}

// destroyed raises the ChannelDestroyed held back for a slowDestroy
// channel: Asterisk has finally freed it.
func (f *fakeAsterisk) destroyed(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cause, ok := f.undestroyed[id]
	if !ok {
		f.t.Fatalf("channel %s is not waiting to be destroyed (waiting: %v)", id, f.undestroyed)
	}
	delete(f.undestroyed, id)
	f.events <- &ari.ChannelDestroyed{Channel: ari.Channel{ID: id, State: "Up"}, Cause: cause}
}

func (f *fakeAsterisk) Continue(_ context.Context, id, dialplanContext, exten string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("continue", id, dialplanContext, exten); err != nil {
		return err
	}
	if f.channels[id] == nil {
		return notFound("continue", id, "Channel")
	}
	f.continued[id] = dialplanContext + "," + exten
	for _, members := range f.bridges {
		delete(members, id)
	}
	f.events <- &ari.StasisEnd{Channel: ari.Channel{ID: id}}
	return nil
}

func (f *fakeAsterisk) TransferProgress(_ context.Context, id, state string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("transfer-progress", id, state); err != nil {
		return err
	}
	if f.channels[id] == nil {
		return notFound("transfer progress", id, "Channel")
	}
	if f.referPending[id] && !f.awaitedSinceProgress[id] {
		f.t.Errorf("progress %s reported to %s before waiting for Asterisk to finish taking its REFER (AwaitReferHandled)", state, id)
	}
	f.awaitedSinceProgress[id] = false
	f.progress[id] = append(f.progress[id], state)
	// Asterisk echoes every posted state as a ChannelTransfer with state.
	f.events <- &ari.ChannelTransfer{State: state, ReferredBy: ari.ReferredBy{SourceChannel: ari.Channel{ID: id}}}
	return nil
}

func (f *fakeAsterisk) AwaitReferHandled(ctx context.Context, id string) error {
	f.mu.Lock()
	busy := f.referBusy[id]
	f.mu.Unlock()
	if busy != nil {
		select {
		case <-busy:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("await-refer", id); err != nil {
		return err
	}
	if f.channels[id] == nil {
		return notFound("get channel variable", id, "Channel")
	}
	delete(f.referPending, id)
	f.awaitedSinceProgress[id] = true
	return nil
}

// takesReferIn: Asterisk is slow to finish taking in the next REFER of
// the phone on channel id, until the returned function is called.
func (f *fakeAsterisk) takesReferIn(id string) (done func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	busy := make(chan struct{})
	f.referBusy[id] = busy
	return func() { close(busy) }
}

func (f *fakeAsterisk) Version(_ context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failOp["version"]; err != nil {
		return "", err
	}
	return f.version, nil
}

func (f *fakeAsterisk) SetConnectedLine(_ context.Context, id, name, number string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("connected-line", id, number); err != nil {
		return err
	}
	if f.channels[id] == nil {
		return notFound("set variable", id, "Channel")
	}
	f.connected[id] = strings.TrimSpace(name + " <" + number + ">")
	return nil
}

func (f *fakeAsterisk) StartMusic(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("moh", id); err != nil {
		return err
	}
	if f.channels[id] == nil {
		return notFound("moh", id, "Channel")
	}
	f.music[id] = true
	return nil
}

func (f *fakeAsterisk) StopMusic(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("moh-stop", id); err != nil {
		return err
	}
	if f.channels[id] == nil {
		return notFound("moh stop", id, "Channel")
	}
	delete(f.music, id)
	return nil
}

func (f *fakeAsterisk) Play(_ context.Context, id, playbackID, media string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("play", id, media); err != nil {
		return err
	}
	if f.channels[id] == nil {
		return notFound("play", id, "Channel")
	}
	f.played[id] = append(f.played[id], media)
	return nil
}

func (f *fakeAsterisk) MailboxExists(_ context.Context, id, mailbox string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("mailbox", id, mailbox); err != nil {
		return false, err
	}
	if f.channels[id] == nil {
		return false, notFound("get variable", id, "Channel")
	}
	return f.mailboxes[mailbox], nil
}

func (f *fakeAsterisk) SetVariable(_ context.Context, id, name, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("set-var", id, name, value); err != nil {
		return err
	}
	if f.channels[id] == nil {
		return notFound("set variable", id, "Channel")
	}
	if f.vars[id] == nil {
		f.vars[id] = map[string]string{}
	}
	f.vars[id][name] = value
	return nil
}

// Snapshot lists the channels in Stasis (not those continued into the
// dialplan) and the bridges.
func (f *fakeAsterisk) Snapshot(_ context.Context) (Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("snapshot"); err != nil {
		return Snapshot{}, err
	}
	var snap Snapshot
	for _, id := range keys(f.channels) {
		if _, out := f.continued[id]; out {
			continue
		}
		ch := f.channels[id]
		state := ch.state
		if state == "Ringing" || state == "Down" {
			state = "Ringing"
		}
		number := strings.TrimPrefix(ch.endpoint, "PJSIP/")
		snap.Channels = append(snap.Channels, SnapshotChannel{
			ID: id, Name: ch.endpoint + "-00000001", State: state, CallerNumber: number, Exten: ch.dialled,
			Call: f.vars[id]["TRANSFERD_CALL"], Holding: f.vars[id][holdVariable] == "1", VoicemailEntry: f.vars[id][voicemailVariable],
			Refer: f.vars[id][referVariable],
		})
	}
	ids := keys(f.bridges)
	if f.bridgesNewestFirst {
		slices.Reverse(ids)
	}
	for _, id := range ids {
		snap.Bridges = append(snap.Bridges, SnapshotBridge{ID: id, Name: f.names[id], Channels: keys(f.bridges[id])})
	}
	return snap, nil
}

func (f *fakeAsterisk) CreateBridge(_ context.Context, id, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("create-bridge", id); err != nil {
		return err
	}
	f.bridges[id] = map[string]bool{}
	f.names[id] = name
	return nil
}

func (f *fakeAsterisk) AddToBridge(_ context.Context, bridgeID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("add", bridgeID, id); err != nil {
		return err
	}
	if f.bridges[bridgeID] == nil {
		return notFound("add channel", bridgeID, "Bridge")
	}
	if f.channels[id] == nil {
		return &ari.Error{Op: "add channel", ID: bridgeID, Status: http.StatusUnprocessableEntity, Message: "Channel not found"}
	}
	// ARI moves a channel: adding it to a bridge takes it out of the
	// Stasis bridge it was in (control_swap_channel_in_bridge).
	for _, members := range f.bridges {
		delete(members, id)
	}
	f.bridges[bridgeID][id] = true
	return nil
}

func (f *fakeAsterisk) RemoveFromBridge(_ context.Context, bridgeID, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("remove", bridgeID, id); err != nil {
		return err
	}
	if f.bridges[bridgeID] == nil {
		return notFound("remove channel", bridgeID, "Bridge")
	}
	if !f.bridges[bridgeID][id] {
		return &ari.Error{Op: "remove channel", ID: bridgeID, Status: http.StatusUnprocessableEntity, Message: "Channel not in this bridge"}
	}
	delete(f.bridges[bridgeID], id)
	return nil
}

func (f *fakeAsterisk) DestroyBridge(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("destroy-bridge", id); err != nil {
		return err
	}
	if f.bridges[id] == nil {
		return notFound("destroy bridge", id, "Bridge")
	}
	delete(f.bridges, id)
	return nil
}

// --- the phones' side ---

// phoneCalls: a phone's call enters Stasis dialling exten.
func (f *fakeAsterisk) phoneCalls(channelID, from, exten string, stasisArgs ...string) {
	f.mu.Lock()
	f.channels[channelID] = &fakeChannel{id: channelID, endpoint: "PJSIP/" + from, state: "Ring", dialled: exten}
	f.mu.Unlock()
	f.events <- &ari.StasisStart{Args: stasisArgs, Channel: ari.Channel{
		ID: channelID, Name: "PJSIP/" + from + "-00000001", State: "Ring",
		Caller:   ari.CallerID{Number: from},
		Dialplan: ari.DialplanCEP{Context: "transferd", Exten: exten, Priority: 2},
	}}
}

// answers: the phone of a channel transferd dialled answers.
func (f *fakeAsterisk) answers(id string) {
	f.mu.Lock()
	if ch := f.channels[id]; ch != nil {
		ch.state = "Up"
	}
	f.mu.Unlock()
	f.events <- &ari.Dial{Peer: ari.Channel{ID: id}, Dialstatus: "ANSWER"}
	f.events <- &ari.ChannelStateChange{Channel: ari.Channel{ID: id, State: "Up"}}
}

// dialFails: a dialled channel ends with a Dial status (BUSY, NOANSWER).
func (f *fakeAsterisk) dialFails(id, status string, cause int) {
	f.events <- &ari.Dial{Peer: ari.Channel{ID: id}, Dialstatus: status}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.channels[id] != nil {
		f.gone(id, cause)
	}
}

// hangsUp: a phone hangs up its channel.
func (f *fakeAsterisk) hangsUp(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.channels[id] != nil {
		f.gone(id, 16)
	}
}

// refers: the phone of channel transferer sends a blind REFER.
func (f *fakeAsterisk) refers(transferer, transferee, destination string) {
	f.referSent(transferer)
	f.events <- &ari.ChannelTransfer{
		ReferTo: ari.ReferTo{RequestedDestination: ari.RequiredDestination{Destination: destination}},
		ReferredBy: ari.ReferredBy{
			SourceChannel:    ari.Channel{ID: transferer},
			ConnectedChannel: &ari.Channel{ID: transferee},
		},
	}
}

// holds: the phone of a channel puts its call on hold.
func (f *fakeAsterisk) holds(id string) {
	f.events <- &ari.ChannelHold{Channel: ari.Channel{ID: id, State: "Up"}}
}

// unholds: Asterisk reports channel id taken off hold.
func (f *fakeAsterisk) unholds(id string) {
	f.events <- &ari.ChannelUnhold{Channel: ari.Channel{ID: id, State: "Up"}}
}

// attendedRefers: the phone of channel transferer sends REFER with
// Replaces naming its consultation channel consult, whose other party is
// target. consult "" is a Replaces Asterisk found no dialog for.
func (f *fakeAsterisk) referSent(transferer string) {
	f.mu.Lock()
	f.referPending[transferer] = true
	f.mu.Unlock()
}

func (f *fakeAsterisk) attendedRefers(transferer, transferee, consult, target string) {
	f.referSent(transferer)
	ev := &ari.ChannelTransfer{
		ReferTo: ari.ReferTo{RequestedDestination: ari.RequiredDestination{ProtocolID: "consult-call-id@phone"}},
		ReferredBy: ari.ReferredBy{
			SourceChannel:    ari.Channel{ID: transferer},
			ConnectedChannel: &ari.Channel{ID: transferee},
		},
	}
	if consult != "" {
		ev.ReferTo.DestinationChannel = &ari.Channel{ID: consult}
		ev.ReferTo.ConnectedChannel = &ari.Channel{ID: target}
	}
	f.events <- ev
}

// localPair creates the two halves of a Local channel dialling exten
// (core transfer handling) and returns their ids and names.
func (f *fakeAsterisk) localPair(exten string) (id1, name1, id2, name2 string) {
	n := len(f.localPartner)/2 + 1
	base := fmt.Sprintf("Local/%s@transferd-transfer-%08d", exten, n)
	id1, id2 = fmt.Sprintf("L%d-1", n), fmt.Sprintf("L%d-2", n)
	f.channels[id1] = &fakeChannel{id: id1, endpoint: "Local", state: "Up"}
	f.channels[id2] = &fakeChannel{id: id2, endpoint: "Local", state: "Up"}
	f.localPartner[id1], f.localPartner[id2] = id2, id1
	return id1, base + ";1", id2, base + ";2"
}

// swapLocked puts channel in old's place in old's bridge, as Asterisk's
// own transfers do, and raises the StasisStart with replace_channel.
func (f *fakeAsterisk) swapLocked(old, id, name string) {
	for _, members := range f.bridges {
		if members[old] {
			delete(members, old)
			members[id] = true
		}
	}
	f.events <- &ari.StasisStart{Channel: ari.Channel{ID: id, Name: name, State: "Up"}, ReplaceChannel: &ari.Channel{ID: old}}
}

// coreBlindTransfers: Asterisk itself performs the blind REFER of the
// phone of transferer to exten (core handling): the phone is told at once,
// a Local channel takes its place in the bridge, its other half waits in
// the dialplan.
func (f *fakeAsterisk) coreBlindTransfers(transferer, exten string) (local1, local2 string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events <- &ari.ChannelUnhold{Channel: ari.Channel{ID: transferer, State: "Up"}}
	id1, name1, id2, _ := f.localPair(exten)
	f.swapLocked(transferer, id1, name1)
	return id1, id2
}

// coreAttendedTransfers: Asterisk itself performs the REFER with Replaces
// of the phone of x1 naming its consultation leg b2 (core handling): a
// Local pair replaces both legs, Asterisk hangs up b2 and raises
// BridgeAttendedTransfer. x1's phone hangs up by itself, later. With
// partner false the consultation's half never shows up.
func (f *fakeAsterisk) coreAttendedTransfers(x1, b2 string, partner bool) (local1, local2 string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id1, name1, id2, name2 := f.localPair("_attended")
	if partner {
		f.swapLocked(b2, id2, name2)
	}
	f.swapLocked(x1, id1, name1)
	if f.channels[b2] != nil {
		f.gone(b2, 16)
	}
	f.events <- &ari.BridgeAttendedTransfer{
		Result: "Success", DestinationType: "link",
		TransfererFirstLeg:      ari.Channel{ID: x1},
		TransfererSecondLeg:     ari.Channel{ID: b2},
		DestinationLinkFirstLeg: &ari.Channel{ID: id1}, DestinationLinkSecondLeg: &ari.Channel{ID: id2},
	}
	return id1, id2
}

// keys: the phone of a channel sends DTMF digits.
func (f *fakeAsterisk) keys(id, digits string) {
	for _, d := range digits {
		f.events <- &ari.ChannelDtmfReceived{Channel: ari.Channel{ID: id, State: "Up"}, Digit: string(d), DurationMs: 100}
	}
}

// restarts: Asterisk restarts while the event stream is down: everything
// it held is gone, without events; then the client reconnects.
func (f *fakeAsterisk) restarts() {
	f.mu.Lock()
	f.channels = map[string]*fakeChannel{}
	f.bridges = map[string]map[string]bool{}
	f.ringing = map[string]bool{}
	f.music = map[string]bool{}
	f.mu.Unlock()
	f.events <- &ari.Disconnected{}
	f.events <- &ari.Reconnected{}
}

// --- observations ---

// createdChannel returns the id of the channel created to endpoint.
func (f *fakeAsterisk) createdChannel(endpoint string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if fields := strings.Fields(c); fields[0] == "create" && len(fields) == 3 && fields[2] == endpoint {
			return fields[1]
		}
	}
	return ""
}

// bridged returns the sorted channel ids of every non-empty bridge.
func (f *fakeAsterisk) bridged() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]string
	for _, members := range f.bridges {
		var ids []string
		for id := range members {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		out = append(out, ids)
	}
	return out
}

func (f *fakeAsterisk) snapshot() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("channels=%v bridges=%v hungUp=%v continued=%v progress=%v ringing=%v connected=%v\ncommands:\n  %s",
		keys(f.channels), f.bridges, f.hungUp, f.continued, f.progress, f.ringing, f.connected, strings.Join(f.calls, "\n  "))
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// eventually waits for cond (evaluated under the fake's lock) to hold.
func (f *fakeAsterisk) eventually(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		f.mu.Lock()
		ok := cond()
		f.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s\n%s", what, f.snapshot())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
