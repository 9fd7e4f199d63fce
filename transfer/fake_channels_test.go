package transfer

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/transferd/transferd/ari"
)

// The fake's channels as the engine sees them through Asterisk: created,
// dialled, answered, hung up, sent on into the dialplan, their variables.

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
	f.events <- &ari.StasisStart{Channel: ari.Channel{ID: spec.ID, Name: channelName(spec.Endpoint), State: "Down"}}
	return nil
}

// channelName names a channel to endpoint as Asterisk does: after the
// endpoint, which for PJSIP/201@node2 (a trunk) is node2, not 201.
func channelName(endpoint string) string {
	if tech, rest, ok := strings.Cut(endpoint, "/"); ok {
		if _, trunk, ok := strings.Cut(rest, "@"); ok {
			endpoint = tech + "/" + trunk
		}
	}
	return endpoint + "-00000001"
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
	if ch.called {
		if strings.Contains(ch.endpoint, "@") {
			// A trunk leg dialled again: Asterisk ended it at once
			// (load harness, twice, nodes-kill.md).
			f.gone(id, 16)
			return nil
		}
		return &ari.Error{Op: "dial", ID: id, Status: http.StatusConflict, Message: "Channel already dialled"}
	}
	ch.called = true
	if f.trunksRingLate && strings.Contains(ch.endpoint, "@") {
		return nil // Down until the other node rings its phone
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

func (f *fakeAsterisk) ChannelState(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("get-state", id); err != nil {
		return "", err
	}
	if f.channels[id] == nil {
		return "", notFound("get channel", id, "Channel")
	}
	return f.channels[id].state, nil
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
