package ari

import (
	"testing"
	"time"
)

// The schedule doubles from initial up to max, each wait within ±50 % of
// its interval, and never stops by itself.
func TestBackOffDoublesWithJitterUpToItsCap(t *testing.T) {
	b := NewBackOff(100*time.Millisecond, time.Second)
	b.Reset()
	interval := 100 * time.Millisecond
	for i := 0; i < 12; i++ {
		next := b.NextBackOff()
		if next < interval/2 || next > interval*3/2 {
			t.Fatalf("wait %d: %s, want within ±50%% of %s", i, next, interval)
		}
		interval = min(interval*2, time.Second)
	}
}
