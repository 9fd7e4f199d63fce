package main

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestCallMinutesIntegratesOnlyWhatIsInsideTheWindow(t *testing.T) {
	from, to := at(60), at(120) // a one-minute window
	tests := []struct {
		name  string
		spans []Span
		want  float64
	}{
		{"no call", nil, 0},
		{"a call through the whole window", []Span{{at(0), at(200)}}, 1},
		{"a call still up counts until the window's end", []Span{{at(90), time.Time{}}}, 0.5},
		{"started before, ended inside", []Span{{at(30), at(75)}}, 0.25},
		{"started inside, ended after", []Span{{at(105), at(400)}}, 0.25},
		{"before and after the window count nothing", []Span{{at(0), at(60)}, {at(120), at(180)}}, 0},
		{"a gap between one call's end and the next one's answer is not counted",
			[]Span{{at(0), at(90)}, {at(96), at(156)}}, 0.9},
		// Two slots of a level of 2, one of them down for 15 s.
		{"a level not quite kept", []Span{{at(0), at(200)}, {at(50), at(100)}, {at(115), at(300)}}, 1.75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CallMinutes(tt.spans, from, to); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("CallMinutes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAnsweredInCountsAnswersFromTheStartUpToTheEnd(t *testing.T) {
	spans := []Span{{at(59), at(200)}, {at(60), at(70)}, {at(119), time.Time{}}, {at(120), at(130)}}
	if got := AnsweredIn(spans, at(60), at(120)); got != 2 {
		t.Errorf("AnsweredIn = %d, want 2 (answered at 60 s and 119 s)", got)
	}
}
