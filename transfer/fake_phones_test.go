package transfer

import (
	"fmt"

	"github.com/transferd/transferd/ari"
)

// The phones' side: what people do on their phones (call, answer, hang
// up, hold, key digits, transfer), raised as the events Asterisk would
// send, and transfers Asterisk performs itself (core handling).

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
	f.sendRefer(&ari.ChannelTransfer{
		ReferTo: ari.ReferTo{RequestedDestination: ari.RequiredDestination{Destination: destination}},
		ReferredBy: ari.ReferredBy{
			SourceChannel:    ari.Channel{ID: transferer},
			ConnectedChannel: &ari.Channel{ID: transferee},
		},
	})
}

// sendRefer: Asterisk answers a phone's REFER 202, keeps it pending on the
// transferer's channel and raises its ChannelTransfer.
func (f *fakeAsterisk) sendRefer(ev *ari.ChannelTransfer) {
	id := ev.ReferredBy.SourceChannel.ID
	f.mu.Lock()
	f.referPending[id] = true
	f.pendingRefers[id] = ev
	f.mu.Unlock()
	f.events <- ev
}

// holds: the phone of a channel puts its call on hold.
func (f *fakeAsterisk) holds(id string) {
	f.mu.Lock()
	f.holding[id] = true
	f.mu.Unlock()
	f.events <- &ari.ChannelHold{Channel: ari.Channel{ID: id, State: "Up"}}
}

// unholds: Asterisk reports channel id taken off hold.
func (f *fakeAsterisk) unholds(id string) {
	f.mu.Lock()
	delete(f.holding, id)
	f.mu.Unlock()
	f.events <- &ari.ChannelUnhold{Channel: ari.Channel{ID: id, State: "Up"}}
}

// attendedRefers: the phone of channel transferer sends REFER with
// Replaces naming its consultation channel consult, whose other party is
// target. consult "" is a Replaces Asterisk found no dialog for.
func (f *fakeAsterisk) attendedRefers(transferer, transferee, consult, target string) {
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
	f.sendRefer(ev)
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
	f.swappedOut[old] = true
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
// the dialplan. A transferer that is gone or in no bridge cannot
// transfer (Asterisk's blind transfer needs the transferer bridged,
// ast_bridge_transfer_blind): nothing happens, and "" is returned.
func (f *fakeAsterisk) coreBlindTransfers(transferer, exten string) (local1, local2 string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.channels[transferer] == nil || !f.inBridgeLocked(transferer) {
		return "", ""
	}
	f.events <- &ari.ChannelUnhold{Channel: ari.Channel{ID: transferer, State: "Up"}}
	delete(f.holding, transferer)
	id1, name1, id2, _ := f.localPair(exten)
	f.swapLocked(transferer, id1, name1)
	return id1, id2
}

// coreAttendedTransfers: Asterisk itself performs the REFER with Replaces
// of the phone of x1 naming its consultation leg b2 (core handling): a
// Local pair replaces both legs, Asterisk hangs up b2 and raises
// BridgeAttendedTransfer. x1's phone hangs up by itself, later. With
// partner false the consultation's half never shows up. Legs that are
// gone, the same leg twice, a held leg in no bridge, or legs of two
// different phones (a phone's Replaces can only name a dialog of its own)
// are not a transfer Asterisk performs: nothing happens, and "" is
// returned.
func (f *fakeAsterisk) coreAttendedTransfers(x1, b2 string, partner bool) (local1, local2 string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if x1 == b2 || f.channels[x1] == nil || f.channels[b2] == nil || !f.inBridgeLocked(x1) ||
		f.channels[x1].endpoint != f.channels[b2].endpoint {
		return "", ""
	}
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
