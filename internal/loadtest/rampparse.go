package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The per-level table of a report (Report.Render, levelHeader), and the
// columns the chart reads from it. Columns are found by these names, not
// by position, so a report with columns added or moved still parses.
const (
	rampHeading     = "## Results per load level"
	colConfig       = "config"
	colLevel        = "concurrent"
	colScenarios    = "scenarios ok"
	colBlind        = "blind p50 / p95 / p99 ms"
	colAttended     = "attended p50 / p95 / p99 ms"
	colAsteriskCPU  = "Asterisk CPU s / 1000 transfers"
	colTransferdCPU = "transferd CPU s / 1000 transfers"
)

// notMeasured is what the report writes for a figure a level lacks.
const notMeasured = "–"

// ParseRamp reads the "Results per load level" table of a report this
// harness wrote. name (the file's) starts every error, with the line and
// the column that could not be read.
func ParseRamp(name string, r io.Reader) ([]RampPoint, error) {
	sc := bufio.NewScanner(r)
	// Failure lines quote Asterisk and the phones at length.
	sc.Buffer(nil, 1<<20)
	line := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return strings.TrimSpace(sc.Text()), true
	}
	at := func(format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, a...))
	}

	text, ok := next()
	for ok && text != rampHeading {
		text, ok = next()
	}
	if !ok {
		return nil, readError(sc.Err(), fmt.Errorf("%s: no %q section", name, rampHeading))
	}
	for text, ok = next(); ok && text == ""; text, ok = next() {
	}
	if !ok || !strings.HasPrefix(text, "|") {
		return nil, readError(sc.Err(), at("no table under %q", rampHeading))
	}
	header := tableCells(text)
	cols := map[string]int{}
	for i, h := range header {
		cols[h] = i
	}
	for _, want := range []string{colConfig, colLevel, colScenarios, colBlind, colAttended, colAsteriskCPU, colTransferdCPU} {
		if _, ok := cols[want]; !ok {
			return nil, at("the table's header has no column %q", want)
		}
	}
	if text, ok = next(); !ok || !strings.HasPrefix(text, "|--") {
		return nil, readError(sc.Err(), at("want the table's |---| line under its header"))
	}

	var points []RampPoint
	for text, ok = next(); ok && strings.HasPrefix(text, "|"); text, ok = next() {
		cells := tableCells(text)
		if len(cells) != len(header) {
			return nil, at("%d cells, the header has %d", len(cells), len(header))
		}
		cell := func(col string) string { return cells[cols[col]] }
		bad := func(col string, err error) error {
			return at("column %d (%q): %q: %v", cols[col]+1, col, cell(col), err)
		}
		p := RampPoint{Config: cell(colConfig)}
		if p.Config == "" {
			return nil, bad(colConfig, errors.New("no configuration"))
		}
		var err error
		if p.Level, err = strconv.Atoi(cell(colLevel)); err != nil || p.Level < 1 {
			return nil, bad(colLevel, errors.New("want a positive whole number"))
		}
		if p.Succeeded, p.Scenarios, err = okOfTotal(cell(colScenarios)); err != nil {
			return nil, bad(colScenarios, err)
		}
		if p.BlindP50, p.BlindP99, err = p50p99(cell(colBlind)); err != nil {
			return nil, bad(colBlind, err)
		}
		if p.AttendedP50, p.AttendedP99, err = p50p99(cell(colAttended)); err != nil {
			return nil, bad(colAttended, err)
		}
		if p.AsteriskCPU, err = figure(cell(colAsteriskCPU)); err != nil {
			return nil, bad(colAsteriskCPU, err)
		}
		if p.TransferdCPU, err = figure(cell(colTransferdCPU)); err != nil {
			return nil, bad(colTransferdCPU, err)
		}
		points = append(points, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: after line %d: %w", name, line, err)
	}
	if len(points) == 0 {
		return nil, at("the table under %q has no rows", rampHeading)
	}
	return points, nil
}

// readError prefers the reader's failure to the message about what the
// text lacked: a read that failed is why it lacked it.
func readError(readErr, lacking error) error {
	if readErr != nil {
		return fmt.Errorf("%w (reading stopped: %w)", lacking, readErr)
	}
	return lacking
}

// tableCells splits a Markdown table row into its trimmed cells.
func tableCells(row string) []string {
	row = strings.TrimSuffix(strings.TrimPrefix(row, "|"), "|")
	cells := strings.Split(row, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// okOfTotal reads "97 / 100".
func okOfTotal(s string) (ok, total int, err error) {
	a, b, found := strings.Cut(s, " / ")
	if !found {
		return 0, 0, errors.New(`want "succeeded / run"`)
	}
	if ok, err = strconv.Atoi(a); err != nil {
		return 0, 0, err
	}
	if total, err = strconv.Atoi(b); err != nil {
		return 0, 0, err
	}
	if ok < 0 || ok > total {
		return 0, 0, errors.New("succeeded must be between 0 and run")
	}
	return ok, total, nil
}

// p50p99 reads "p50 / p95 / p99" (FormatLatencies), NaNs for "–".
func p50p99(s string) (p50, p99 float64, err error) {
	if s == notMeasured {
		return math.NaN(), math.NaN(), nil
	}
	parts := strings.Split(s, " / ")
	if len(parts) != 3 {
		return 0, 0, fmt.Errorf(`want "p50 / p95 / p99" or %q`, notMeasured)
	}
	var v [3]float64
	for i, part := range parts {
		if v[i], err = number(part); err != nil {
			return 0, 0, err
		}
	}
	return v[0], v[2], nil
}

// figure reads a number, NaN for "–".
func figure(s string) (float64, error) {
	if s == notMeasured {
		return math.NaN(), nil
	}
	return number(s)
}

// number reads a measured figure: finite and not negative (ParseFloat
// would take "NaN" and "-Inf", which no level measures).
func number(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("%q is not a measured figure", s)
	}
	return v, nil
}
