package main

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of ds by the
// nearest-rank method: the smallest sample with at least p% of the samples
// at or below it. Nearest rank never invents a latency nobody measured,
// which matters for the small samples of the low load levels. It returns 0
// for no samples.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Latencies summarises REFER → final NOTIFY times of one transfer kind.
type Latencies struct {
	N             int
	P50, P95, P99 time.Duration
}

// Summarize computes the median, p95 and p99 of ds.
func Summarize(ds []time.Duration) Latencies {
	return Latencies{N: len(ds), P50: Percentile(ds, 50), P95: Percentile(ds, 95), P99: Percentile(ds, 99)}
}
