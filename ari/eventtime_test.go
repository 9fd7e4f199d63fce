package ari

import (
	"testing"
	"time"
)

// The fast stamp parser agrees with time.Parse on the instant, and leaves
// everything else to it.
func TestEventTimeAgreesWithTimeParse(t *testing.T) {
	stamps := []string{
		"2026-11-25T04:35:31.528+0000",
		"2026-11-25T04:35:31.528+0130",
		"2026-11-25T04:35:31.528-0800",
		"2024-02-29T23:59:59.999+1400",
		"2026-12-31T23:59:59.000-1200",
		"2026-02-29T00:00:00.000+0000", // no such day
		"2026-13-01T00:00:00.000+0000",
		"2026-11-25T24:00:00.000+0000",
		"2026-11-25T04:35:60.000+0000",
		"2026-11-25T04:35:31.5+0000",
		"2026-11-25T04:35:31.528Z",
		"2026-11-25 04:35:31.528+0000",
		"2026-11-25T04:35:31.52x+0000",
		"2026-11-25T04:35:31.528+00:00",
		"",
	}
	for _, s := range stamps {
		want, err := time.Parse(timeLayout, s)
		got, ok := EventBase{Timestamp: s}.Time()
		if ok != (err == nil) || (ok && !got.Equal(want)) {
			t.Errorf("Time(%q) = %v, %v; time.Parse: %v, %v", s, got, ok, want, err)
		}
		if ok && got.Location() != time.UTC {
			t.Errorf("Time(%q) in %v, want UTC", s, got.Location())
		}
	}
}

func BenchmarkEventTime(b *testing.B) {
	e := EventBase{Timestamp: "2026-11-25T04:35:31.528+0000"}
	for b.Loop() {
		if _, ok := e.Time(); !ok {
			b.Fatal("unreadable")
		}
	}
}
