package ari

import (
	"time"

	"github.com/cenkalti/backoff/v5"
)

// NewBackOff is the retry schedule of every transferd retry loop
// (github.com/cenkalti/backoff/v5): first about initial, doubling up to
// max, each wait randomized by ±50 % so that many clients retrying at once
// spread out.
func NewBackOff(initial, max time.Duration) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     initial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         max,
	}
}
