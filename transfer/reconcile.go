package transfer

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"
)

// Catching up with Asterisk after the event stream was broken: Run calls
// Reconcile on every reconnect. Unlike Adopt (adopt.go), which starts
// owners for calls nobody runs, it corrects the calls this engine already
// owns and ends what calls that are over left behind.

// Reconcile compares what the engine believes with what Asterisk holds,
// after the event stream was broken (Asterisk sends no missed event): a
// channel that is gone is reported to its call as hung up, so the call
// ends or carries on as if the hangup had been seen; a channel Asterisk
// shows answered is reported as answered (a call that saw it ring takes
// the answer it missed; for the others it changes nothing). After an
// Asterisk restart every call is gone and is forgotten this way.
func (e *Engine) Reconcile(ctx context.Context) error {
	snap, err := e.snapshot(ctx)
	if err != nil {
		return fmt.Errorf("transfer: reconcile: %w", err)
	}
	present := map[string]bool{}
	for _, ch := range snap.Channels {
		present[ch.ID] = true
	}
	for _, b := range snap.Bridges {
		present[b.ID] = true
	}
	e.mu.Lock()
	var missing, up []string
	for id := range e.owners {
		if !present[id] {
			missing = append(missing, id)
		}
	}
	for _, ch := range snap.Channels {
		if ch.State == "Up" && e.owners[ch.ID] != nil {
			up = append(up, ch.ID)
		}
	}
	// A call that ended while Asterisk could not be reached may have left
	// its channels and bridge there: its hangups failed (a request that
	// reached Asterisk whose answer the cut lost, and the call took the
	// failure for real: e2e, a hangup while disconnected). No call owns
	// them any more; a channel carries the TRANSFERD_CALL of a call that
	// is over. They are ended, as Adopt ends the legs of a call that is
	// gone. (A caller nobody marked is left alone: its StasisStart may yet
	// be replayed.)
	var leftChannels, leftBridges []string
	for _, ch := range snap.Channels {
		if (e.owners[ch.ID] == nil && ch.Call != "" && ch.Call != departedCall) || e.owedHangups[ch.ID] {
			leftChannels = append(leftChannels, ch.ID)
		}
	}
	// (A call whose hangup of a channel failed took the channel for gone
	// and may end only after this reconcile, when the channel is still
	// its own: e2e, the caller left alone after a cut during its answer.)
	clear(e.owedHangups)
	for _, b := range snap.Bridges {
		if e.owners[b.ID] == nil && strings.HasPrefix(b.ID, e.cfg.App+"-") && strings.HasPrefix(b.Name, e.cfg.App+"/") {
			leftBridges = append(leftBridges, b.ID)
		}
	}
	e.mu.Unlock()
	for _, id := range missing {
		e.deliver([]string{id}, legGone{channelID: id, destroyed: true})
	}
	// (A transfer target that answered in the gap left its call ringing
	// for nobody: e2e, a cut while the target rang, on a loaded machine.)
	for _, id := range up {
		e.deliver([]string{id}, legAnswered{channelID: id})
	}
	// A phone's REFER raised while the stream was broken is pending in
	// Asterisk, its event lost: each call probes its phones
	// (referprobe.go), after the inputs above.
	sip := map[string]bool{}
	for _, ch := range snap.Channels {
		if strings.HasPrefix(ch.Name, "PJSIP/") {
			sip[ch.ID] = true
		}
	}
	e.mu.Lock()
	for c := range e.calls {
		c.box.put(streamResumed{sip: sip})
	}
	e.mu.Unlock()
	for _, id := range leftChannels {
		e.hangUpLeftover(ctx, id)
	}
	for _, id := range leftBridges {
		cctx, cancel := context.WithTimeout(ctx, e.cfg.CommandTimeout)
		if err := e.ast.DestroyBridge(cctx, id); err != nil && !isGone(err) {
			e.log.Warn("reconcile: destroying a bridge of a call that is over failed", zap.String("bridge", id), zap.Error(err))
		}
		cancel()
	}
	e.log.Info("reconciled with Asterisk", zap.Strings("gone", missing), zap.Int("channels", len(snap.Channels)),
		zap.Strings("left_by_ended_calls", append(leftChannels, leftBridges...)))
	return nil
}

// oweHangup notes a channel a call gave up on because its hangup could not
// reach Asterisk (Reconcile hangs it up).
func (e *Engine) oweHangup(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.owedHangups[id] = true
}
