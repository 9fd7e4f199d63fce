package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// committedReport is the ramp results.svg is drawn from.
const committedReport = "results.md"

func parseCommitted(t *testing.T) []RampPoint {
	t.Helper()
	f, err := os.Open(committedReport)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ramp, err := ParseRamp(committedReport, f)
	if err != nil {
		t.Fatal(err)
	}
	return ramp
}

func findPoint(ramp []RampPoint, config string, level int) (RampPoint, bool) {
	for _, p := range ramp {
		if p.Config == config && p.Level == level {
			return p, true
		}
	}
	return RampPoint{}, false
}

func TestParseRampReadsTheCommittedReport(t *testing.T) {
	ramp := parseCommitted(t)
	count := map[string]int{}
	for _, p := range ramp {
		count[p.Config]++
	}
	if count[configTransferd] != 6 || count[configTransferdCore] != 4 || count[configNative] != 6 || len(count) != 3 {
		t.Errorf("levels per configuration = %v, want transferd 6, transferd-core 4, native 6", count)
	}

	td, ok := findPoint(ramp, configTransferd, 100)
	if !ok {
		t.Fatal("no transferd row at 100")
	}
	want := RampPoint{Config: configTransferd, Level: 100, Scenarios: 100, Succeeded: 100,
		BlindP50: 12.0, BlindP99: 65.3, AttendedP50: 15.8, AttendedP99: 74.5, AsteriskCPU: 18.65, TransferdCPU: 2.20}
	if td != want {
		t.Errorf("transferd at 100:\n got %+v\nwant %+v", td, want)
	}

	core, ok := findPoint(ramp, configTransferdCore, 100)
	if !ok {
		t.Fatal("no transferd-core row at 100")
	}
	if !core.Failed() || core.Succeeded != 97 || core.AttendedP99 != 4705.0 || core.AsteriskCPU != 43.17 {
		t.Errorf("transferd-core at 100 = %+v, want 97 of 100 scenarios (failed), attended p99 4705.0, Asterisk CPU 43.17", core)
	}

	native, ok := findPoint(ramp, configNative, 200)
	if !ok {
		t.Fatal("no native row at 200")
	}
	if native.Failed() || native.BlindP99 != 118.3 || native.AsteriskCPU != 10.82 || !math.IsNaN(native.TransferdCPU) {
		t.Errorf("native at 200 = %+v, want no failure, blind p99 118.3, Asterisk CPU 10.82, no transferd CPU (NaN)", native)
	}
}

// TestParseRampReadsWhatRenderWrites: the parser follows the writer, so a
// change to the table's header or cells fails here, not in a chart.
func TestParseRampReadsWhatRenderWrites(t *testing.T) {
	ok := LevelResult{Config: configTransferd, Level: 10, Scenarios: 10, Succeeded: 10, BlindTried: 10, BlindOK: 10,
		AttendedTried: 10, AttendedOK: 10,
		Blind:    Latencies{N: 10, P50: 4900 * time.Microsecond, P95: 6 * time.Millisecond, P99: 7250 * time.Microsecond},
		Attended: Latencies{N: 10, P50: 3 * time.Millisecond, P95: 5 * time.Millisecond, P99: 503 * time.Millisecond},
		Wall:     2 * time.Second, AsteriskCPU: 333 * time.Millisecond, TransferdCPU: 47 * time.Millisecond, FailedSteps: map[string]int{}}
	failed := LevelResult{Config: configNative, Level: 50, Scenarios: 50, Succeeded: 49, BlindTried: 50, BlindOK: 50,
		AttendedTried: 50, AttendedOK: 49, Blind: Latencies{N: 50, P50: time.Millisecond, P95: 2 * time.Millisecond, P99: 3 * time.Millisecond},
		Wall: 4 * time.Second, AsteriskCPU: time.Second, FailedSteps: map[string]int{"x": 1}}
	died := LevelResult{Config: configTransferdCore, Level: 25, Scenarios: 25, Wall: time.Second, Err: "Asterisk died"}
	configs := []ConfigResult{
		{Name: configTransferd, Levels: []LevelResult{ok}},
		{Name: configNative, Levels: []LevelResult{failed}, FirstFailing: 50},
		{Name: configTransferdCore, Levels: []LevelResult{died}, FirstFailing: 25},
	}
	text := Report{Configs: configs}.Render()
	got, err := ParseRamp("rendered", strings.NewReader(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	want := rampPoints(configs)
	if len(got) != len(want) {
		t.Fatalf("parsed %d points, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !samePoint(got[i], want[i]) {
			t.Errorf("point %d:\nparsed %+v\n  live %+v", i, got[i], want[i])
		}
	}
}

// samePoint compares up to the table's rounding (0.1 ms, 0.01 CPU s);
// NaN (not measured) matches NaN only.
func samePoint(a, b RampPoint) bool {
	near := func(x, y float64) bool {
		if math.IsNaN(x) || math.IsNaN(y) {
			return math.IsNaN(x) && math.IsNaN(y)
		}
		return math.Abs(x-y) <= 0.05
	}
	return a.Config == b.Config && a.Level == b.Level && a.Scenarios == b.Scenarios && a.Succeeded == b.Succeeded &&
		near(a.BlindP50, b.BlindP50) && near(a.BlindP99, b.BlindP99) &&
		near(a.AttendedP50, b.AttendedP50) && near(a.AttendedP99, b.AttendedP99) &&
		near(a.AsteriskCPU, b.AsteriskCPU) && near(a.TransferdCPU, b.TransferdCPU)
}

func TestParseRampSaysWhichLineAndColumn(t *testing.T) {
	data, err := os.ReadFile(committedReport)
	if err != nil {
		t.Fatal(err)
	}
	report := string(data)
	// lineOf is the 1-based line of the first line containing s.
	lineOf := func(s string) int {
		for i, l := range strings.Split(report, "\n") {
			if strings.Contains(l, s) {
				return i + 1
			}
		}
		t.Fatalf("%s lacks %q", committedReport, s)
		return 0
	}
	row := "| transferd | 100 | 100 / 100 | 200 / 200 | 12.0 / 52.4 / 65.3 |"
	header := "| config | concurrent |"
	tests := []struct {
		name, old, new, want string
	}{
		{"latency not a number", row, strings.Replace(row, "65.3", "65,3", 1),
			fmt.Sprintf(`results.md:%d: column 5 ("blind p50 / p95 / p99 ms"): "12.0 / 52.4 / 65,3"`, lineOf(row))},
		{"latency without its p95", row, strings.Replace(row, "12.0 / 52.4 / 65.3", "12.0 / 65.3", 1),
			fmt.Sprintf(`results.md:%d: column 5 ("blind p50 / p95 / p99 ms"): "12.0 / 65.3": want "p50 / p95 / p99"`, lineOf(row))},
		{"negative CPU", "| 18.65 | 2.20 |", "| -18.65 | 2.20 |",
			fmt.Sprintf(`results.md:%d: column 8 ("Asterisk CPU s / 1000 transfers"): "-18.65"`, lineOf("| 18.65 | 2.20 |"))},
		{"level not a number", row, strings.Replace(row, "| 100 | 100 / 100", "| many | 100 / 100", 1),
			fmt.Sprintf(`results.md:%d: column 2 ("concurrent"): "many"`, lineOf(row))},
		{"more succeeded than run", row, strings.Replace(row, "100 / 100 | 200", "101 / 100 | 200", 1),
			fmt.Sprintf(`results.md:%d: column 3 ("scenarios ok"): "101 / 100"`, lineOf(row))},
		{"a cell missing", row, strings.Replace(row, "| 100 | 100 / 100", "| 100 / 100", 1),
			fmt.Sprintf("results.md:%d: 11 cells, the header has 12", lineOf(row))},
		{"a column renamed", "| Asterisk CPU s / 1000 transfers |", "| Asterisk CPU |",
			fmt.Sprintf(`results.md:%d: the table's header has no column "Asterisk CPU s / 1000 transfers"`, lineOf(header))},
		{"no table", "## Results per load level", "## Results",
			`results.md: no "## Results per load level" section`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := strings.Replace(report, tt.old, tt.new, 1)
			if broken == report {
				t.Fatalf("%q not in %s", tt.old, committedReport)
			}
			_, err := ParseRamp(committedReport, strings.NewReader(broken))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestWriteChartDrawsEveryConfiguration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.svg")
	if err := WriteChart(path, parseCommitted(t)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(data)
	if !strings.HasPrefix(svg, "<?xml") || !strings.Contains(svg, "<svg") || !strings.HasSuffix(strings.TrimSpace(svg), "</svg>") {
		t.Fatalf("not an SVG document: %.200s", svg)
	}
	if len(data) < 10_000 {
		t.Errorf("SVG of %d bytes: too small for three panels of 16 levels", len(data))
	}
	for _, want := range []string{
		">transferd</text>", ">transferd-core</text>", ">native</text>", // the legend
		">some calls failed</text>", // transferd-core at 100
		">Blind transfer, REFER → final NOTIFY: p50 solid, p99 dashed</text>",
		">Attended transfer, REFER → final NOTIFY: p50 solid, p99 dashed</text>",
		">CPU per 1000 transfers: Asterisk solid, transferd dashed</text>",
		">10000</text>", // the log scale's top decade: 4705 ms is the slowest
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	// Each configuration's colour strokes a solid line in each of the
	// three panels and the legend, and a dashed one per panel where it
	// has a second metric (native has no transferd CPU).
	for i, c := range []struct {
		name          string
		solid, dashed int
	}{{configTransferd, 4, 3}, {configTransferdCore, 4, 3}, {configNative, 4, 2}} {
		r, g, b, _ := configColour(i).RGBA()
		stroke := fmt.Sprintf("fill:none;stroke:#%02X%02X%02X;stroke-width:1.5", r>>8, g>>8, b>>8)
		dashed := strings.Count(svg, stroke+";stroke-dasharray")
		if solid := strings.Count(svg, stroke+`"`); solid != c.solid || dashed != c.dashed {
			t.Errorf("%s (%s): %d solid and %d dashed lines, want %d and %d", c.name, stroke, solid, dashed, c.solid, c.dashed)
		}
	}
}

func TestWriteChartRefusesNothingAndUnknownFormats(t *testing.T) {
	dir := t.TempDir()
	if err := WriteChart(filepath.Join(dir, "empty.svg"), nil); err == nil {
		t.Error("chart of no levels: no error")
	}
	if err := WriteChart(filepath.Join(dir, "results.gif"), parseCommitted(t)); err == nil || !strings.Contains(err.Error(), `".gif"`) {
		t.Errorf("chart as .gif: error %v, want one naming the format", err)
	}
}

func TestChartPathIsBesideTheReport(t *testing.T) {
	for in, want := range map[string]string{
		"internal/loadtest/results.md": "internal/loadtest/results.svg",
		"/tmp/r":                       "/tmp/r.svg",
		"soak.v2.md":                   "soak.v2.svg",
	} {
		if got := ChartPath(in); got != want {
			t.Errorf("ChartPath(%q) = %q, want %q", in, got, want)
		}
	}
}
