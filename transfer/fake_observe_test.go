package transfer

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Observations of the fake for assertions: what was created, who is in
// which bridge, a printable snapshot, and waiting for a condition.

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

// liveChannel returns the id of a channel to endpoint that is up or
// ringing now (createdChannel finds the first ever created).
func (f *fakeAsterisk) liveChannel(endpoint string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, ch := range f.channels {
		if ch.endpoint == endpoint {
			return id
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
	return fmt.Sprintf("channels=%v bridges=%v hungUp=%v continued=%v progress=%v ringing=%v music=%v holding=%v connected=%v\ncommands:\n  %s",
		keys(f.channels), f.bridges, f.hungUp, f.continued, f.progress, f.ringing, f.music, f.holding, f.connected, strings.Join(f.calls, "\n  "))
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
