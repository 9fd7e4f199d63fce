package main

import (
	"math"
	"time"
)

// RampPoint is one configuration at one load level, reduced to what the
// chart draws. A live run makes it from its LevelResults (rampPoints) and
// -chart from a report's table (ParseRamp), so one renderer serves both
// and a chart redrawn from a report matches the run's own (up to the
// table's rounding). NaN marks a figure the level did not measure, where
// the table shows "–".
type RampPoint struct {
	Config               string
	Level                int // concurrent call scenarios
	Scenarios, Succeeded int

	// REFER → final NOTIFY, in milliseconds.
	BlindP50, BlindP99       float64
	AttendedP50, AttendedP99 float64

	// CPU seconds per 1000 successful transfers.
	AsteriskCPU, TransferdCPU float64
}

// Failed reports whether some of the level's call scenarios failed.
func (p RampPoint) Failed() bool { return p.Succeeded < p.Scenarios }

// rampPoints reduces a run's levels to chart points, leaving out what
// levelRow leaves out of the table.
func rampPoints(configs []ConfigResult) []RampPoint {
	var points []RampPoint
	for _, c := range configs {
		for _, l := range c.Levels {
			_, ok := l.Transfers()
			p := RampPoint{
				Config: l.Config, Level: l.Level, Scenarios: l.Scenarios, Succeeded: l.Succeeded,
				BlindP50: latencyMS(l.Blind, l.Blind.P50), BlindP99: latencyMS(l.Blind, l.Blind.P99),
				AttendedP50: latencyMS(l.Attended, l.Attended.P50), AttendedP99: latencyMS(l.Attended, l.Attended.P99),
				AsteriskCPU: perThousand(l.AsteriskCPU, ok), TransferdCPU: math.NaN(),
			}
			if throughTransferd(l.Config) {
				p.TransferdCPU = perThousand(l.TransferdCPU, ok)
			}
			if l.Err != "" { // the level ended before its CPU was measured
				p.AsteriskCPU, p.TransferdCPU = math.NaN(), math.NaN()
			}
			points = append(points, p)
		}
	}
	return points
}

// latencyMS is one percentile of l in milliseconds, NaN without samples.
func latencyMS(l Latencies, d time.Duration) float64 {
	if l.N == 0 {
		return math.NaN()
	}
	return float64(d) / float64(time.Millisecond)
}

// perThousand is CPU seconds per 1000 transfers, NaN without transfers.
func perThousand(cpu time.Duration, transfers int) float64 {
	if transfers == 0 {
		return math.NaN()
	}
	return cpu.Seconds() * 1000 / float64(transfers)
}
