package main

import (
	"strings"
	"testing"
	"time"
)

// page parses a /metrics page as transferd serves it.
func page(t *testing.T, text string) Samples {
	t.Helper()
	m, err := ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const (
	standbyPage = `# HELP transferd_ari_connected 1 while the ARI event stream is connected.
# TYPE transferd_ari_connected gauge
transferd_ari_connected 0
transferd_active_calls 0
transferd_event_lag_seconds_bucket{le="0.001"} 0
transferd_event_lag_seconds_count 0
`
	servingPage = `transferd_ari_connected 1
transferd_active_calls 12
transferd_event_lag_seconds_bucket{le="0.001"} 900
transferd_event_lag_seconds_sum 0.4
transferd_event_lag_seconds_count 1234
`
)

func TestServingReplicaIsTheOneConnected(t *testing.T) {
	standby, serving := page(t, standbyPage), page(t, servingPage)
	tests := []struct {
		name          string
		pages         []Samples
		index, nConns int
	}{
		{"the second serves", []Samples{standby, serving}, 1, 1},
		{"the first serves, the second is down", []Samples{serving, nil}, 0, 1},
		{"nobody serves", []Samples{standby, standby}, -1, 0},
		{"every replica down", []Samples{nil, nil}, -1, 0},
		{"two claim the connection", []Samples{serving, serving}, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, n := ServingReplica(tt.pages, haServing)
			if i != tt.index || n != tt.nConns {
				t.Errorf("ServingReplica = %d, %d connected; want %d, %d", i, n, tt.index, tt.nConns)
			}
		})
	}
}

func TestTookOverNeedsTheConnectionAndANewEvent(t *testing.T) {
	adoptedNoEventYet := page(t, "transferd_ari_connected 1\ntransferd_event_lag_seconds_count 0\n")
	readButNotRunning := page(t, "transferd_ari_connected 0\ntransferd_event_lag_seconds_count 3\n")
	tests := []struct {
		name     string
		m        Samples
		baseline float64
		want     bool
	}{
		{"fresh replica serving and reading events", page(t, servingPage), 0, true},
		{"connected, adopted, no event read yet", adoptedNoEventYet, 0, false},
		{"events read during adoption, engine not running yet", readButNotRunning, 0, false},
		{"a standby that served before: no event since the handover", page(t, servingPage), 1234, false},
		{"a standby that served before: events since", page(t, servingPage), 1200, true},
		{"replica down", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TookOver(tt.m, haServing, tt.baseline); got != tt.want {
				t.Errorf("TookOver = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventsReadBaselineOfTheReplacedSlotIsAFreshProcess(t *testing.T) {
	got := eventsRead([]Samples{page(t, servingPage), page(t, "transferd_event_lag_seconds_count 7\n"), nil}, 0)
	want := []float64{0, 7, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("eventsRead = %v, want %v", got, want)
		}
	}
}

func TestFaultFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    faultPlan
		wantErr string
	}{
		{"no faults", []string{"-configs", "transferd-ha"}, faultPlan{}, ""},
		{"kills", []string{"-configs", "transferd-ha", "-repeat-for", "5m", "-kill-every", "30s"}, faultPlan{killEvery: 30 * time.Second}, ""},
		{"rolling upgrades", []string{"-configs", "transferd,transferd-ha", "-repeat-for", "5m", "-rolling-every", "1m"}, faultPlan{rollingEvery: time.Minute}, ""},
		{"both", []string{"-configs", "transferd-ha", "-repeat-for", "5m", "-kill-every", "30s", "-rolling-every", "30s"}, faultPlan{}, "choose one"},
		{"no replicas to kill", []string{"-configs", "transferd", "-repeat-for", "5m", "-kill-every", "30s"}, faultPlan{}, "add one to -configs"},
		{"no soak", []string{"-configs", "transferd-ha", "-kill-every", "30s"}, faultPlan{}, "must last longer"},
		{"soak shorter than the interval", []string{"-configs", "transferd-ha", "-repeat-for", "20s", "-rolling-every", "30s"}, faultPlan{}, "-rolling-every 30s"},
		{"negative", []string{"-configs", "transferd-ha", "-repeat-for", "5m", "-kill-every", "-1s"}, faultPlan{}, "negative"},
		{"unknown configuration", []string{"-configs", "transferd-hax"}, faultPlan{}, "transferd-ha"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseFlags(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags(%q) error %v, want one containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tt.args, err)
			}
			if f.faults != tt.want {
				t.Errorf("faults = %+v, want %+v", f.faults, tt.want)
			}
		})
	}
}

func TestFaultPlanSaysWhatHappens(t *testing.T) {
	tests := []struct {
		plan faultPlan
		want string
	}{
		{faultPlan{}, "none"},
		{faultPlan{killEvery: 30 * time.Second}, "SIGKILL the serving replica every 30s"},
		{faultPlan{rollingEvery: time.Minute}, "rolling upgrade (SIGTERM, fresh process, one replica at a time, the serving one last) every 1m0s"},
	}
	for _, tt := range tests {
		if got := tt.plan.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.plan, got, tt.want)
		}
	}
}

func TestFormatTakeoversIsMedianP99AndMax(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 10; i++ {
		ds = append(ds, time.Duration(i)*10*time.Millisecond)
	}
	ds = append(ds, 1500*time.Millisecond) // one slow takeover of eleven
	if got, want := FormatTakeovers(ds), "60.0 / 1500.0 / 1500.0 (11)"; got != want {
		t.Errorf("FormatTakeovers = %q, want %q", got, want)
	}
	if got := FormatTakeovers(nil); got != "–" {
		t.Errorf("FormatTakeovers(nil) = %q", got)
	}
}

func TestNearFaultsCountsStepsUnderWayOrJustAfter(t *testing.T) {
	base := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }
	kills := []time.Time{at(30), at(60)}
	failures := []time.Time{
		at(16),   // began 14 s before the first kill: under way
		at(14),   // began 16 s before: ended before it
		at(31.5), // began just after the first kill
		at(33),   // too late after the first, long before the second
		at(59),   // under way at the second
	}
	if got := NearFaults(failures, kills, 15*time.Second, 2*time.Second); got != 3 {
		t.Errorf("NearFaults = %d, want 3", got)
	}
	if got := NearFaults(failures, nil, 15*time.Second, 2*time.Second); got != 0 {
		t.Errorf("NearFaults without faults = %d, want 0", got)
	}
}

func TestRenderShowsTheReplicasSection(t *testing.T) {
	kill := time.Date(2026, 12, 1, 14, 0, 30, 0, time.Local)
	withKills := LevelResult{Config: configTransferdHA, Level: 50, Scenarios: 400, Succeeded: 398,
		BlindTried: 400, BlindOK: 399, AttendedTried: 399, AttendedOK: 398, Wall: 5 * time.Minute,
		FailedSteps: map[string]int{"C rings, C answers": 2}, FailedAt: []time.Time{kill.Add(-time.Second), kill.Add(time.Minute)},
		Faults: &FaultResult{Plan: "SIGKILL the serving replica every 30s", Kills: 2, Replaced: 2,
			Takeovers: []time.Duration{80 * time.Millisecond, 120 * time.Millisecond}, At: []time.Time{kill, kill.Add(30 * time.Second)}}}
	without := LevelResult{Config: configTransferdHA, Level: 50, Scenarios: 410, Succeeded: 410, BlindTried: 410, BlindOK: 410,
		AttendedTried: 410, AttendedOK: 410, Wall: 5 * time.Minute, FailedSteps: map[string]int{}}
	other := LevelResult{Config: configTransferd, Level: 50, Scenarios: 10, Succeeded: 10, FailedSteps: map[string]int{}}
	rep := Report{Configs: []ConfigResult{
		{Name: configTransferdHA, Levels: []LevelResult{without, withKills}},
		{Name: configTransferd, Levels: []LevelResult{other}},
	}}
	text := rep.Render()
	for _, want := range []string{
		"## Replicas (transferd-ha)",
		"| 50 | none | 0 | 0 (0) | 0 / 410 | 0 | 0 / 820 | – | 0 | 0 | – |",
		"| 50 | SIGKILL the serving replica every 30s | 2 | 0 (2) | 2 / 400 | 1 | 2 / 799 | 80.0 / 120.0 / 120.0 (2) | 0 | 0 | – |",
		"Serving replica taken down at 50 concurrent (local time, as the failures below): 14:00:30.000, 14:01:00.000.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "\n| 50 |") != 2 {
		t.Errorf("the replicas section has rows for other configurations:\n%s", text)
	}
}
