package ari_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/transferd/transferd/ari"
	"github.com/transferd/transferd/internal/sandbox"
)

type stream struct {
	t  *testing.T
	ch <-chan ari.Event
}

// next waits for the first event of type T matching ok, skipping others.
func next[T ari.Event](s stream, ok func(T) bool) T {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, open := <-s.ch:
			if !open {
				s.t.Fatal("event stream closed")
			}
			if e, is := ev.(T); is && (ok == nil || ok(e)) {
				return e
			}
		case <-timeout:
			var zero T
			s.t.Fatalf("no %T event within 10s", zero)
			return zero
		}
	}
}

// connect starts a sandbox and subscribes app "contract"; with events,
// only those event types (an event filter).
func connect(t *testing.T, only ...string) (*sandbox.Sandbox, *ari.Client, stream) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping tests that run a real Asterisk")
	}
	t.Parallel()
	sb := sandbox.Start(t, sandbox.Options{})
	c, err := ari.New(ari.Config{URL: sb.ARIURL, Username: sb.ARIUser, Password: sb.ARIPassword, App: "contract", Events: only})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	events, err := c.Subscribe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sb, c, stream{t, events}
}

func TestContractChannelsAndBridges(t *testing.T) {
	_, c, s := connect(t)
	ctx := context.Background()

	info, err := c.Info(ctx)
	if err != nil || info.System.Version == "" {
		t.Fatalf("info: %v %+v", err, info)
	}
	app, err := c.Application(ctx, "contract")
	if err != nil || app.Name != "contract" {
		t.Fatalf("application: %v %+v", err, app)
	}

	// A channel with a chosen id, dialled into a dialplan that answers.
	if _, err := c.CreateChannel(ctx, ari.ChannelCreate{ChannelID: "ct-a", Endpoint: "Local/wait@sandbox-test", Variables: map[string]string{"FOO": "bar"}}); err != nil {
		t.Fatal(err)
	}
	// A created channel is in Stasis once its StasisStart arrives; a dial
	// before that is 409 "Channel not in Stasis application".
	next(s, func(e *ari.StasisStart) bool { return e.Channel.ID == "ct-a" })
	if err := c.Dial(ctx, "ct-a", "", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	next(s, func(e *ari.ChannelStateChange) bool { return e.Channel.ID == "ct-a" && e.Channel.State == "Up" })
	if v, err := c.Variable(ctx, "ct-a", "FOO"); err != nil || v != "bar" {
		t.Errorf("variable from create = %q, %v", v, err)
	}
	if err := c.SetVariable(ctx, "ct-a", "TRANSFERD_CALL", "c9"); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Variable(ctx, "ct-a", "TRANSFERD_CALL"); v != "c9" {
		t.Errorf("variable after set = %q", v)
	}

	// A second channel by originate; both into a bridge.
	if _, err := c.Originate(ctx, ari.ChannelCreate{ChannelID: "ct-b", Endpoint: "Local/wait@sandbox-test"}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	next(s, func(e *ari.StasisStart) bool { return e.Channel.ID == "ct-b" })
	if _, err := c.CreateBridge(ctx, "ct-br", "mixing,dtmf_events", "contract/1"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetBridgeVariable(ctx, "ct-br", "TRANSFERD_CALL", "c9"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.BridgeVariable(ctx, "ct-br", "TRANSFERD_CALL"); err != nil || v != "c9" {
		t.Errorf("bridge variable after set = %q, %v", v, err)
	}
	if err := c.SetGlobalVariable(ctx, "TRANSFERD_CONTRACT", "yes"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.GlobalVariable(ctx, "TRANSFERD_CONTRACT"); err != nil || v != "yes" {
		t.Errorf("global variable after set = %q, %v", v, err)
	}
	for _, id := range []string{"ct-a", "ct-b"} {
		if err := c.AddChannel(ctx, "ct-br", id); err != nil {
			t.Fatal(err)
		}
	}
	next(s, func(e *ari.ChannelEnteredBridge) bool { return e.Channel != nil && e.Channel.ID == "ct-b" })
	br, err := c.Bridge(ctx, "ct-br")
	if err != nil || br.Name != "contract/1" || !slices.Contains(br.Channels, "ct-a") || !slices.Contains(br.Channels, "ct-b") {
		t.Fatalf("bridge = %+v, %v", br, err)
	}
	bridges, _ := c.Bridges(ctx)
	if len(bridges) != 1 {
		t.Errorf("bridges listed: %+v", bridges)
	}
	channels, err := c.Channels(ctx)
	ids := []string{}
	for _, ch := range channels {
		ids = append(ids, ch.ID)
	}
	if err != nil || !slices.Contains(ids, "ct-a") || !slices.Contains(ids, "ct-b") {
		t.Errorf("channels listed: %v, %v", ids, err)
	}
	if err := c.Answer(ctx, "ct-b"); err != nil {
		t.Errorf("answer: %v", err)
	}
	if ch, err := c.Channel(ctx, "ct-b"); err != nil || ch.State != "Up" {
		t.Errorf("answered channel: %+v, %v", ch, err)
	}
	if ep, err := c.Endpoint(ctx, "PJSIP", "101"); err != nil || ep.Resource != "101" {
		t.Errorf("endpoint PJSIP/101: %+v, %v", ep, err)
	}
	if _, err := c.Endpoint(ctx, "PJSIP", "999"); !errors.Is(err, ari.ErrNotFound) {
		t.Errorf("endpoint PJSIP/999: %v, want not found", err)
	}
	if _, err := c.PlayOnBridge(ctx, "ct-br", "ct-brpb", "sound:beep"); err != nil {
		t.Fatal(err)
	}
	next(s, func(e *ari.PlaybackStarted) bool {
		return e.Playback.ID == "ct-brpb" && e.Playback.TargetURI == "bridge:ct-br"
	})
	next(s, func(e *ari.PlaybackFinished) bool { return e.Playback.ID == "ct-brpb" })

	// Hold indicates hold toward the channel (ChannelHold events come only
	// from a phone's own hold, which the end-to-end tests cover).
	if err := c.Hold(ctx, "ct-a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Unhold(ctx, "ct-a"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartMOH(ctx, "ct-b", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.StopMOH(ctx, "ct-b"); err != nil {
		t.Fatal(err)
	}
	if err := c.Ring(ctx, "ct-b"); err != nil {
		t.Fatal(err)
	}
	if err := c.RingStop(ctx, "ct-b"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartBridgeMOH(ctx, "ct-br", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.StopBridgeMOH(ctx, "ct-br"); err != nil {
		t.Fatal(err)
	}

	if _, err := c.Play(ctx, "ct-a", "ct-pb", "sound:demo-congrats"); err != nil {
		t.Fatal(err)
	}
	next(s, func(e *ari.PlaybackStarted) bool { return e.Playback.ID == "ct-pb" })
	if pb, err := c.Playback(ctx, "ct-pb"); err != nil || pb.MediaURI != "sound:demo-congrats" {
		t.Errorf("playback = %+v, %v", pb, err)
	}
	// Asterisk publishes PlaybackStarted a moment before the playback can
	// be controlled (res_stasis_playback sets "controllable" once the file
	// streams); until then a stop is 500 "Could not stop playback".
	// (A 404 after such a 500 means an earlier attempt stopped it after
	// all: seen in CI under load. The file plays for about 30 s, so it
	// cannot have ended by itself; PlaybackFinished below still has to
	// come.)
	for deadline, refused := time.Now().Add(2*time.Second), false; ; {
		err := c.StopPlayback(ctx, "ct-pb")
		var aerr *ari.Error
		if err == nil || (refused && errors.Is(err, ari.ErrNotFound)) {
			break
		}
		if !errors.As(err, &aerr) || aerr.Status != 500 || time.Now().After(deadline) {
			t.Fatal(err)
		}
		refused = true
		time.Sleep(20 * time.Millisecond)
	}
	next(s, func(e *ari.PlaybackFinished) bool { return e.Playback.ID == "ct-pb" })

	if err := c.RemoveChannel(ctx, "ct-br", "ct-b"); err != nil {
		t.Fatal(err)
	}
	next(s, func(e *ari.ChannelLeftBridge) bool { return e.Channel.ID == "ct-b" })
	if err := c.RemoveChannel(ctx, "ct-br", "ct-b"); !errors.Is(err, ari.ErrUnprocessable) {
		t.Errorf("removing a channel not in the bridge: %v, want 422", err)
	}
	// A transfer_progress with an invalid state is Asterisk's 400.
	if err := c.TransferProgress(ctx, "ct-a", "bogus"); !errors.Is(err, ari.ErrBadRequest) {
		t.Errorf("bad transfer state: %v, want 400", err)
	}

	if err := c.Hangup(ctx, "ct-a", "busy"); err != nil {
		t.Fatal(err)
	}
	next(s, func(e *ari.ChannelDestroyed) bool { return e.Channel.ID == "ct-a" && e.Cause == 17 })
	if _, err := c.Channel(ctx, "ct-a"); !errors.Is(err, ari.ErrNotFound) {
		t.Errorf("get hung-up channel: %v, want 404", err)
	}
	if err := c.Hangup(ctx, "ct-a", "normal"); !ari.IsGone(err) {
		t.Errorf("second hangup: %v, want 404", err)
	}
	if err := c.Continue(ctx, "ct-b", "sandbox-test", "echo", 1); err != nil {
		t.Fatal(err)
	}
	next(s, func(e *ari.StasisEnd) bool { return e.Channel.ID == "ct-b" })
	ch, err := c.Channel(ctx, "ct-b")
	if err != nil || ch.Dialplan.Context != "sandbox-test" {
		t.Errorf("continued channel: %+v, %v", ch, err)
	}
	c.Hangup(ctx, "ct-b", "normal")
	if err := c.DestroyBridge(ctx, "ct-br"); err != nil {
		t.Fatal(err)
	}
	// Asterisk answers 204 and destroys the bridge a moment later.
	next(s, func(e *ari.BridgeDestroyed) bool { return e.Bridge.ID == "ct-br" })
	if _, err := c.Bridge(ctx, "ct-br"); !ari.IsGone(err) {
		t.Errorf("destroyed bridge still there: %v", err)
	}
}

func TestContractReconnectsWhenAsteriskRestarts(t *testing.T) {
	sb, c, s := connect(t)
	ctx := context.Background()
	if err := sb.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	next[*ari.Disconnected](s, nil)
	next[*ari.Reconnected](s, nil)
	// Events flow again on the new connection.
	if _, err := c.Originate(ctx, ari.ChannelCreate{ChannelID: "rc-a", Endpoint: "Local/wait@sandbox-test"}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	next(s, func(e *ari.StasisStart) bool { return e.Channel.ID == "rc-a" })
	if err := c.Hangup(ctx, "rc-a", "normal"); err != nil {
		t.Fatal(err)
	}
	next(s, func(e *ari.ChannelDestroyed) bool { return e.Channel.ID == "rc-a" })
}

// An event filter makes Asterisk send only the listed types: setting a
// variable (ChannelVarset), answering (ChannelStateChange) and hanging up
// (ChannelHangupRequest, ChannelDestroyed) raise nothing else.
func TestContractEventFilter(t *testing.T) {
	allowed := []string{"StasisStart", "StasisEnd"}
	_, c, s := connect(t, allowed...)
	events := s.ch
	ctx := context.Background()
	if _, err := c.Originate(ctx, ari.ChannelCreate{ChannelID: "ft-a", Endpoint: "Local/wait@sandbox-test"}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var got []string
	timeout := time.After(10 * time.Second)
	for !slices.Contains(got, "StasisEnd") {
		select {
		case ev := <-events:
			got = append(got, ev.EventType())
			if _, ok := ev.(*ari.StasisStart); ok {
				if err := c.SetVariable(ctx, "ft-a", "TRANSFERD_CALL", "f1"); err != nil {
					t.Fatal(err)
				}
				if err := c.Hangup(ctx, "ft-a", "normal"); err != nil {
					t.Fatal(err)
				}
			}
		case <-timeout:
			t.Fatalf("events %v: no StasisEnd within 10s", got)
		}
	}
	if !slices.Equal(got, allowed) {
		t.Errorf("events %v, want only %v", got, allowed)
	}
}
