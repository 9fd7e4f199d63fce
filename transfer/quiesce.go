package transfer

import (
	"context"
	"errors"

	"go.uber.org/zap"
)

// A transferd handing Asterisk's connection over (SIGTERM) must not cut a
// step in half: a step cut off mid-way goes on with "not connected" errors
// and takes them for real failures (load harness, rolling upgrade at 50
// calls: "transfer target cannot be dialled" for a REFER whose target was
// free, and the phone never got its final NOTIFY). Under load some call is
// always mid-step, so waiting for the engine to be idle does not end; the
// engine is quiesced instead: owners finish the step they are in and then
// take only inputs a successor could not learn from what Asterisk holds.
// Everything else waits in the mailboxes, and the successor's adoption
// reads its outcome from Asterisk (a channel answered, hung up or waiting
// in Stasis).

// handledWhileQuiesced reports whether an owner still handles in once the
// engine is quiesced: when a successor adopting the call could not learn of
// it from what Asterisk holds (a REFER: Asterisk keeps no trace of it that
// ARI shows, and the phone waits for its final NOTIFY; a digit; a hold; an
// API request waiting for its answer; the steps of an attended transfer
// passing between two calls' owners, and the engine's timers for them), or
// when it completes what transferd itself began (a leg it created entering
// Stasis, to be dialled). A new caller, an answer, a hangup or a timer is
// left: adoption finds the channel waiting in Stasis, answered or gone
// (and restarts what a timer was for).
func handledWhileQuiesced(in input) bool {
	switch in := in.(type) {
	case callArrived:
		return in.ownLeg
	case legAnswered, dialEnded, legGone, playbackFinished, digitTimerFired, departureDue:
		return false
	case transferRequested:
		// (A REFER found by a probe is still pending in Asterisk: the
		// successor's own probe finds it again.)
		return !in.echo
	}
	return true
}

// Quiesce makes the call owners finish the step they are in and from then
// on handle only the inputs handledWhileQuiesced names; the rest
// stays queued for nobody. It cannot be undone: call it when the
// connection to Asterisk is about to be handed over, then wait for Quiet.
func (e *Engine) Quiesce() {
	// (An owner checks before each input; one parked on an empty
	// mailbox wakes for the next input and checks then.)
	e.quiescing.Store(true)
}

// Quiet reports, once Quiesce was called, whether no call owner is in a
// step and no input it would still handle waits for one: the moment to
// hand the connection over.
func (e *Engine) Quiet() bool {
	if !e.quiescing.Load() || e.stepping.Load() != 0 || e.dispatching.Load() != 0 || e.deferring.Load() != 0 {
		return false
	}
	return !e.queued(handledWhileQuiesced)
}

// queued reports whether an input that satisfies match waits in some
// call's mailbox.
func (e *Engine) queued(match func(input) bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.calls {
		if c.box.has(match) {
			return true
		}
	}
	return false
}

// RefuseQueuedTransfers answers every REFER still waiting in a mailbox with
// a refusal, so the phone shows the transfer failed (and the call goes on)
// instead of waiting for a final NOTIFY that nobody would send. A stopping
// transferd calls it when it gives up waiting for Quiet. It returns how
// many REFERs it refused.
func (e *Engine) RefuseQueuedTransfers(ctx context.Context) int {
	e.mu.Lock()
	var refers []transferRequested
	for c := range e.calls {
		for _, in := range c.box.extract(isREFER) {
			refers = append(refers, in.(transferRequested))
		}
	}
	e.mu.Unlock()
	for _, r := range refers {
		cctx, cancel := context.WithTimeout(ctx, e.cfg.CommandTimeout)
		// (As for every first report of a REFER: Asterisk 22.10.1 crashes
		// on one that comes before it has taken the REFER in.)
		err := e.ast.AwaitReferHandled(cctx, r.transfererID)
		if err == nil {
			err = e.ast.TransferProgress(cctx, r.transfererID, progressDeclined)
		}
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			e.log.Warn("a REFER left unhandled at hand-over could not be refused; the phone waits for its timeout",
				zap.String("transferer", r.transfererID), zap.Error(err))
			continue
		}
		e.log.Warn("a REFER left unhandled at hand-over was refused; the user can transfer again",
			zap.String("transferer", r.transfererID), zap.String("destination", r.destination))
	}
	return len(refers)
}

// isREFER: a REFER's ChannelTransfer (not the echo of a probe: refusing
// it could refuse a REFER under way; the successor's probe finds a lost
// one again).
func isREFER(in input) bool { r, ok := in.(transferRequested); return ok && !r.echo }

// quiescedPart returns the part of batch an owner may handle while the
// engine is quiesced: up to and including the last input it still handles
// (handledWhileQuiesced), in order; all of it when not quiesced, or while
// the call holds an attended transfer's final NOTIFY back until the
// consultation leg is destroyed (destroyWait): that hangup is what
// it waits for, and a successor would not know the phone is owed one
// (load harness, rolling upgrade: "final NOTIFY 503", Asterisk's answer
// when the transferer's leg went first).
func (c *call) quiescedPart(batch []input) []input {
	if !c.e.quiescing.Load() || c.attended.telling() {
		return batch
	}
	for i := len(batch) - 1; i >= 0; i-- {
		if handledWhileQuiesced(batch[i]) {
			return batch[:i+1]
		}
	}
	return nil
}
