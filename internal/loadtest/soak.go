package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/transferd/transferd/ari"
)

// Idle is transferd at rest: no calls, just after a garbage collection.
type Idle struct {
	Goroutines int
	HeapAlloc  int64 // live heap just after a GC
	RSS        int64
}

// idle waits until transferd has had no active call for at least settle
// and has run a garbage collection that started after that (so the heap is
// what is still live), then reads its goroutines and heap. The scrapes
// themselves allocate, so polling soon triggers a GC; Go would force one
// within two minutes anyway.
func (t *target) idle(ctx context.Context, within, settle time.Duration) (Idle, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var quietSince float64 // unix seconds
	for {
		m, err := scrape(ctx, t.http, t.td.metricsURL)
		if err != nil {
			return Idle{}, err
		}
		switch {
		case m.Sum("transferd_active_calls") > 0:
			quietSince = 0
		case quietSince == 0:
			quietSince = float64(time.Now().UnixNano()) / 1e9
		case float64(time.Now().UnixNano())/1e9-quietSince < settle.Seconds():
		case m.Sum("go_memstats_last_gc_time_seconds") > quietSince:
			return Idle{
				Goroutines: int(m.Sum("go_goroutines")),
				HeapAlloc:  int64(m.Sum("go_memstats_heap_alloc_bytes")),
				RSS:        int64(m.Sum("process_resident_memory_bytes")),
			}, nil
		}
		select {
		case <-ctx.Done():
			return Idle{}, fmt.Errorf("transferd not idle after a GC within %s: %w", within, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// soakSettle is how long transferd must be without calls before a soak
// measurement: longer than the ARI client keeps an idle connection (whose
// goroutines are not a leak).
const soakSettle = ari.IdleConnTimeout + 5*time.Second

// Soak compares transferd at rest before and after all levels (issue 8:
// nothing may be left behind by the calls).
type Soak struct {
	Before, After Idle
	// AfterLevel is the last level before After was measured: the largest
	// level that passed.
	AfterLevel int
	// Completed counts transferd_transfers_total by outcome after the run.
	Outcomes map[string]float64
}

// Slack a rest state may differ by and still count as back to baseline:
// the HTTP server keeps a goroutine or two per kept-alive scrape
// connection, and the heap holds pools and caches sized by the peak.
const (
	goroutineSlack = 4
	heapSlack      = 2 << 20
)

// Returned reports whether goroutines and live heap came back to baseline.
func (s Soak) Returned() (goroutines, heap bool) {
	return s.After.Goroutines <= s.Before.Goroutines+goroutineSlack,
		s.After.HeapAlloc <= s.Before.HeapAlloc+heapSlack
}

// outcomes reads transferd's transfer counters by kind and outcome.
func (t *target) outcomes(ctx context.Context) (map[string]float64, error) {
	m, err := scrape(ctx, t.http, t.td.metricsURL)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for series, v := range m {
		if labels, ok := strings.CutPrefix(series, "transferd_transfers_total{"); ok {
			out["{"+labels] = v
		}
	}
	return out, nil
}
