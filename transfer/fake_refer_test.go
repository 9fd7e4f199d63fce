package transfer

import (
	"context"
)

// The fake's side of a REFER: the progress reports the engine posts and
// the wait for Asterisk to finish taking the REFER in.

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
	// (Every state posted, for the tests; the phone sees only those
	// posted while its REFER is pending.)
	f.progress[id] = append(f.progress[id], state)
	pending := f.pendingRefers[id]
	if pending == nil {
		// No REFER pending: Asterisk answers 204 and does nothing (no
		// NOTIFY, no event).
		return nil
	}
	// Asterisk echoes every posted state as a ChannelTransfer carrying
	// the pending REFER and the state; a final state ends the REFER.
	echo := *pending
	echo.State = state
	f.events <- &echo
	if state != progressTrying {
		delete(f.pendingRefers, id)
	}
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
