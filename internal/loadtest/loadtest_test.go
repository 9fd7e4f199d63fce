package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"no samples", nil, 50, 0},
		{"one sample is every percentile", ms(7), 99, 7 * time.Millisecond},
		{"median of an odd count", ms(5, 1, 3), 50, 3 * time.Millisecond},
		{"median of an even count is the lower middle", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p95 of 20 is the 19th", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 95, 19 * time.Millisecond},
		{"p99 of 20 is the largest", ms(20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19), 99, 20 * time.Millisecond},
		{"p100 is the largest", ms(3, 9, 1), 100, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.in, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.in, tt.p, got, tt.want)
			}
		})
	}
}

func TestPercentileLeavesTheSamplesInOrder(t *testing.T) {
	in := []time.Duration{3, 1, 2}
	Percentile(in, 50)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("samples reordered: %v", in)
	}
}

func TestParseProcStatCPUAddsUserAndSystemTicks(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"asterisk", "4242 (asterisk) S 1 4242 4242 0 -1 4194560 5000 0 0 0 150 37 0 0 20 0 60 0 12345 1000000 3000", 1870 * time.Millisecond, false},
		{"name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 1 1", 30 * time.Millisecond, false},
		{"no name", "7 asterisk S 1", 0, true},
		{"truncated", "7 (x) S 1 7 7", 0, true},
		{"not a number", "7 (x) S 1 7 7 0 -1 0 0 0 0 0 abc 2 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcStatCPU(tt.stat)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseProcStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseCPUInfoCountsProcessorsAndTakesTheFirstModel(t *testing.T) {
	info := "processor\t: 0\nmodel name\t: AMD EPYC 7B13\ncpu MHz\t\t: 2450.000\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	model, cpus := ParseCPUInfo(info)
	if model != "AMD EPYC 7B13" || cpus != 2 {
		t.Errorf("ParseCPUInfo = %q, %d; want AMD EPYC 7B13, 2", model, cpus)
	}
}

func TestParseMetrics(t *testing.T) {
	page := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 13
go_memstats_heap_alloc_bytes 2.621e+06
transferd_transfers_total{kind="blind",outcome="completed"} 20
transferd_transfers_total{kind="attended",outcome="completed"} 19
transferd_transfers_total{kind="attended",outcome="failed"} 1
weird{label="has } and spaces"} 4 1700000000000
`
	m, err := ParseMetrics(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"go_goroutines", nil, 13},
		{"go_memstats_heap_alloc_bytes", nil, 2621000},
		{"transferd_transfers_total", nil, 40},
		{"transferd_transfers_total", []string{`outcome="completed"`}, 39},
		{"transferd_transfers_total", []string{`kind="attended"`, `outcome="failed"`}, 1},
		{"weird", nil, 4},
		{"absent", nil, 0},
	}
	for _, tt := range tests {
		if got := m.Sum(tt.name, tt.labels...); got != tt.want {
			t.Errorf("Sum(%s, %v) = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

func TestParseMetricsRejectsALineWithoutAValue(t *testing.T) {
	for _, page := range []string{"go_goroutines\n", "go_goroutines many\n"} {
		if _, err := ParseMetrics(strings.NewReader(page)); err == nil {
			t.Errorf("ParseMetrics(%q): no error", page)
		}
	}
}

func TestPeakKeepsTheMostCallsAndOnlyPostGCHeaps(t *testing.T) {
	sample := func(active, gc, heap, rss float64) Samples {
		return Samples{"transferd_active_calls": active, "go_memstats_last_gc_time_seconds": gc,
			"go_memstats_heap_alloc_bytes": heap, "process_resident_memory_bytes": rss}
	}
	var p peakSample
	p = p.add(sample(10, 100, 9e6, 30e6), 0)    // first scrape: GC time unknown before
	p = p.add(sample(40, 100, 20e6, 40e6), 100) // no GC since: heap not live
	p = p.add(sample(30, 101, 5e6, 39e6), 100)  // just after a GC
	p = p.add(sample(20, 102, 4e6, 38e6), 101)  // after a GC, fewer calls
	want := peakSample{active: 40, rss: 40e6, heapActive: 30, heap: 5e6}
	if p != want {
		t.Errorf("peak = %+v, want %+v", p, want)
	}
}

func TestParseLevels(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"10,25,50,100", []int{10, 25, 50, 100}, false},
		{" 5, 20", []int{5, 20}, false},
		{"20,5", nil, true},
		{"0", nil, true},
		{"251", nil, true},
		{"ten", nil, true},
		{"", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseLevels(tt.in, 250)
		if (err != nil) != tt.wantErr || !equalInts(got, tt.want) {
			t.Errorf("ParseLevels(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFormatting(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"bytes", FormatBytes(512), "512 B"},
		{"KiB", FormatBytes(20 * 1024), "20.0 KiB"},
		{"MiB", FormatBytes(3 << 20), "3.0 MiB"},
		{"negative delta", FormatBytes(-2048), "-2.0 KiB"},
		{"latencies", FormatLatencies(Latencies{N: 3, P50: 4900 * time.Microsecond, P95: 12 * time.Millisecond, P99: 503 * time.Millisecond}), "4.9 / 12.0 / 503.0"},
		{"no latencies", FormatLatencies(Latencies{}), "–"},
		{"cpu per 1000", PerThousand(1500*time.Millisecond, 200), "7.50"},
		{"cpu without transfers", PerThousand(time.Second, 0), "–"},
		{"rate", Rate(50, 10*time.Second), "5.0"},
		{"cpu share", CPUShare(3*time.Second, 2*time.Second), "1.50"},
		{"memory", MemoryPerCall(LevelResult{PeakActiveCalls: 100, RSSDelta: 100 << 20, HeapActiveCalls: 50, HeapDelta: 1 << 20}), "20.5 KiB at 50 (1.0 MiB at 100)"},
		{"memory never sampled after a GC", MemoryPerCall(LevelResult{PeakActiveCalls: 4, RSSDelta: 4096}), "– (1.0 KiB at 4)"},
		{"memory native", MemoryPerCall(LevelResult{}), "–"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestRenderShowsEveryLevelWhereTheRampStoppedAndTheSoak(t *testing.T) {
	ok := LevelResult{Config: configTransferd, Level: 10, Scenarios: 10, Succeeded: 10, BlindTried: 10, BlindOK: 10,
		AttendedTried: 10, AttendedOK: 10, Blind: Latencies{N: 10, P50: 5 * time.Millisecond, P95: 6 * time.Millisecond, P99: 7 * time.Millisecond},
		Wall: 2 * time.Second, AsteriskCPU: time.Second, TransferdCPU: 500 * time.Millisecond, HarnessCPU: time.Second, FailedSteps: map[string]int{}}
	failed := LevelResult{Config: configNative, Level: 50, Scenarios: 50, Succeeded: 49, BlindTried: 50, BlindOK: 50,
		AttendedTried: 50, AttendedOK: 49, Wall: 4 * time.Second, ChannelsLeft: 2,
		FailedSteps: map[string]int{"attended REFER (Replaces) → final NOTIFY 200": 1},
		Failures:    []string{"attended REFER (Replaces) → final NOTIFY 200: no final NOTIFY"}}
	rep := Report{
		Date: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC), CommandLine: "go run ./internal/loadtest -levels 10,50",
		Machine: Machine{CPU: "AMD EPYC", CPUs: 2, Kernel: "6.18", GoVersion: "go1.26.8", Asterisk: "Asterisk 22.10.1"},
		Configs: []ConfigResult{
			{Name: configTransferd, Levels: []LevelResult{ok}, Soak: &Soak{Before: Idle{Goroutines: 13, HeapAlloc: 2 << 20}, After: Idle{Goroutines: 30, HeapAlloc: 2 << 20}}},
			{Name: configNative, Levels: []LevelResult{failed}, FirstFailing: 50, AsteriskDir: "/var/tmp/x"},
		},
	}
	text := rep.Render()
	for _, want := range []string{
		"`go run ./internal/loadtest -levels 10,50`",
		"AMD EPYC, 2 logical CPUs, Linux 6.18",
		"| transferd | 10 | 10 / 10 | 20 / 20 | 5.0 / 6.0 / 7.0 | – | 5.0 | 50.00 | 25.00 | 0.50 | – | 0 / 0 |",
		"| native | 50 | 49 / 50 | 99 / 100 | – | – | 12.2 | 0.00 | – | 0.00 | – | 2 / 0 |",
		"- transferd: no failure up to 10 concurrent scenarios",
		"- native: first failures at 50 concurrent scenarios",
		"| goroutines | 13 | 30 | **no** (slack 4) |",
		"| live heap after GC | 2.0 MiB | 2.0 MiB | yes",
		"native at 50 concurrent: failed steps \"attended REFER (Replaces) → final NOTIFY 200\" ×1; left 2 channels / 0 bridges",
		"Asterisk /var/tmp/x",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}

func TestCountLinesAndKernelLines(t *testing.T) {
	log := "[1.0] TCP: Possible SYN flooding on port 127.0.0.1:36903. Sending cookies.\n" +
		"[2.0] asterisk[13607]: segfault at 7f230000001a ip 00007f23c0eab1ad error 4 in libc.so.6\n" +
		"[3.0] asterisk[999]: segfault elsewhere\n"
	if got := KernelLines(log, "asterisk[13607]"); len(got) != 1 || !strings.HasPrefix(got[0], "[2.0] asterisk[13607]: segfault") {
		t.Errorf("KernelLines = %q", got)
	}
	if got := KernelLines(log, "asterisk[1]"); got != nil {
		t.Errorf("KernelLines for another pid = %q", got)
	}
	tests := []struct {
		text string
		want int
	}{
		{"", 0},
		{"a Taskprocessor 'stasis/m:ari:application/transferd-1' queue reached 500\nother\nTaskprocessor 'stasis/m:ari:application/x' again", 2},
		{"Taskprocessor 'stasis/m:devicestate:all-1' queue reached 500", 0},
	}
	for _, tt := range tests {
		if got := CountLines(tt.text, ariQueueWarning); got != tt.want {
			t.Errorf("CountLines(%q) = %d, want %d", tt.text, got, tt.want)
		}
	}
}

func TestLastLinesSkipsBlankLines(t *testing.T) {
	tests := []struct {
		text string
		n    int
		want []string
	}{
		{"", 3, []string{}},
		{"a\n\nb\n", 3, []string{"a", "b"}},
		{"x\ny\nz\ncorrupted double-linked list\n\n", 2, []string{"z", "corrupted double-linked list"}},
	}
	for _, tt := range tests {
		got := LastLines(tt.text, tt.n)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("LastLines(%q, %d) = %q, want %q", tt.text, tt.n, got, tt.want)
		}
	}
}
