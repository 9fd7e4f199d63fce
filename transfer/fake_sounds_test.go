package transfer

import (
	"context"
)

// What the fake's channels hear from the engine: ringing, music on hold,
// prompts.

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
