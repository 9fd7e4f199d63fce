package transfer

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/transferd/transferd/ari"
)

// The fake's bridges, and the Snapshot of everything it holds.

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
		number := strings.TrimPrefix(ch.endpoint, "PJSIP/")
		snap.Channels = append(snap.Channels, SnapshotChannel{
			ID: id, Name: channelName(ch.endpoint), State: ch.state, CallerNumber: number, Exten: ch.dialled,
			Call: f.vars[id]["TRANSFERD_CALL"], Holding: f.vars[id][holdVariable] == "1", VoicemailEntry: f.vars[id][voicemailVariable],
			Refer: f.vars[id][referVariable], RecordedExten: f.vars[id][extenVariable],
			Dialled: f.vars[id][dialledVariable] == "1",
		})
	}
	ids := keys(f.bridges)
	if f.bridgesNewestFirst {
		slices.Reverse(ids)
	}
	for _, id := range ids {
		snap.Bridges = append(snap.Bridges, SnapshotBridge{ID: id, Name: f.names[id], Channels: keys(f.bridges[id])})
	}
	if f.afterSnapshot != nil {
		f.afterSnapshot() // (f.mu held)
	}
	return snap, nil
}

func (f *fakeAsterisk) CreateBridge(_ context.Context, id, name string, hearDigits bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("create-bridge", id); err != nil {
		return err
	}
	f.bridges[id] = map[string]bool{}
	f.names[id] = name
	f.deaf[id] = !hearDigits
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
