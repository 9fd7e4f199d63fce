package main

import "time"

// Span is one call's answered time: from the answer to its end (End zero
// while the call lasts).
type Span struct{ Start, End time.Time }

// CallMinutes integrates the number of answered calls over [from, to]:
// each call counts for the part of its span inside the window, so calls
// that were not yet (or no longer) up, a level not quite reached and the
// gaps between one call's end and the next one's answer are not counted
// as if level × window minutes had been carried. A call still up (End
// zero) counts until to.
func CallMinutes(spans []Span, from, to time.Time) float64 {
	var total time.Duration
	for _, s := range spans {
		end := s.End
		if end.IsZero() || end.After(to) {
			end = to
		}
		start := s.Start
		if start.Before(from) {
			start = from
		}
		if end.After(start) {
			total += end.Sub(start)
		}
	}
	return total.Minutes()
}

// AnsweredIn counts the calls answered within [from, to).
func AnsweredIn(spans []Span, from, to time.Time) int {
	n := 0
	for _, s := range spans {
		if !s.Start.Before(from) && s.Start.Before(to) {
			n++
		}
	}
	return n
}
