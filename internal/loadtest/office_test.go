package main

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestTallyOfficeCountsTheWindowsTransfersAndTheLevelsFailures(t *testing.T) {
	from, to := at(60), at(120)
	outs := []officeOutcome{
		// Up through the window, not transferred.
		{answered: at(10), ended: at(70)},
		// Answered in the window; a blind transfer in it that worked.
		{answered: at(71), ended: at(131), kind: kindBlind, transferAt: at(91), transferOK: true},
		// A transfer before the window: the call counts, not the transfer.
		{answered: at(20), ended: at(80), kind: kindStar8, transferAt: at(40), transferOK: true, glares: 1},
		// An attended transfer in the window that failed: the call fails.
		{answered: at(65), ended: at(95), kind: kindAttended, transferAt: at(85), transferFailed: true,
			step: "B calls C, C answers", err: errors.New("no answer\nat all"), at: at(85)},
		// Interrupted by the level's end while transferring: not counted.
		{answered: at(100), ended: at(125), kind: kindStar8, transferAt: at(119), interrupted: true},
		// Never answered: a failure, no call-minutes.
		{step: "A calls B, B answers", err: errors.New("503"), at: at(110)},
	}
	l := OfficeLevel{FailedSteps: map[string]int{}}
	tallyOffice(&l, outs, from, to)
	// Minutes: 10 s + 49 s + 20 s + 30 s + 20 s = 129 s.
	if math.Abs(l.CallMinutes-129.0/60) > 1e-9 {
		t.Errorf("call-minutes %v, want %v", l.CallMinutes, 129.0/60)
	}
	if l.Answered != 3 {
		t.Errorf("answered in window %d, want 3", l.Answered)
	}
	wantTransfers := map[string]TransferCount{kindBlind: {Tried: 1, OK: 1}, kindAttended: {Tried: 1}}
	if fmt.Sprint(l.Transfers) != fmt.Sprint(wantTransfers) {
		t.Errorf("transfers %v, want %v", l.Transfers, wantTransfers)
	}
	if l.Calls != 5 || l.FailedCalls != 2 || l.Glares != 1 {
		t.Errorf("calls %d, failed %d, glares %d; want 5, 2, 1", l.Calls, l.FailedCalls, l.Glares)
	}
	if l.FailedSteps["B calls C, C answers"] != 1 || l.FailedSteps["A calls B, B answers"] != 1 {
		t.Errorf("failed steps %v", l.FailedSteps)
	}
	if len(l.Failures) != 2 || !strings.HasSuffix(l.Failures[0], "B calls C, C answers: no answer; at all") {
		t.Errorf("failures %q", l.Failures)
	}
}

func TestOfficeRenderComparesEachLevelWithNative(t *testing.T) {
	level := func(config string, n int, asteriskMS, transferdMS int, minutes float64) OfficeLevel {
		return OfficeLevel{Config: config, Level: n, Window: time.Minute, CallMinutes: minutes, Answered: n,
			AsteriskCPU: time.Duration(asteriskMS) * time.Millisecond, TransferdCPU: time.Duration(transferdMS) * time.Millisecond,
			HarnessCPU: 30 * time.Second, MachineBusy: 60 * time.Second, MachineTotal: 120 * time.Second,
			Transfers: map[string]TransferCount{kindBlind: {Tried: 2, OK: 2}, kindStar8: {Tried: 1, OK: 0}},
			Bridges:   map[string]int{"native_rtp": n}, Calls: 2 * n, FailedSteps: map[string]int{}}
	}
	failed := level(configTransferd, 20, 9100, 400, 20)
	failed.Bridges = map[string]int{"simple_bridge": 19, "holding_bridge": 1}
	failed.FailedCalls, failed.FailedSteps, failed.Failures = 1, map[string]int{"A's message is in C's mailbox": 1},
		[]string{"(step began 03:01:00.000) A's message is in C's mailbox: 0 messages"}
	rep := OfficeReport{
		Date: t0, CommandLine: "go run ./internal/loadtest -mix office -levels 20,60",
		Machine:     Machine{CPU: "AMD EPYC", CPUs: 2, Kernel: "6.18", GoVersion: "go1.26.8", Asterisk: "Asterisk 22.10.1"},
		Settings:    officeSettings{callDuration: time.Minute, window: time.Minute, share: 0.1, kinds: transferKinds},
		StepTimeout: 15 * time.Second, Hear: 400 * time.Millisecond,
		Configs: []OfficeConfig{
			{Name: configNative, Levels: []OfficeLevel{level(configNative, 20, 5000, 0, 20), level(configNative, 60, 13000, 0, 59.5)}},
			{Name: configTransferd, Levels: []OfficeLevel{failed}, Err: "level 60: asterisk is not running any more",
				TransferdLog: "/tmp/td.log", AsteriskDir: "/var/tmp/a"},
		},
	}
	text := rep.Render()
	for _, want := range []string{
		"`go run ./internal/loadtest -mix office -levels 20,60`",
		"AMD EPYC, 2 logical CPUs, Linux 6.18",
		"- Settings: calls of 1m0s, window 1m0s, 10 % of the calls transferred (blind, attended, star8 in turn)",
		"### 20 calls at once",
		"| native | 20 | 20.0 | 20.0 | 2 / 2 | – | 0 / 1 | 0 / 40 | 250 | 1.00 | – | 0.50 | 50 % | native_rtp 20 | 0 / 0 |",
		"| transferd | 20 | 20.0 | 20.0 | 2 / 2 | – | 0 / 1 | 1 / 40 | 455 | 1.82 | 20 | 0.50 | 50 % | simple_bridge 19, holding_bridge 1 | 0 / 0 |",
		"### 60 calls at once",
		"| native | 60 | 59.5 | 59.5 | 2 / 2 | – | 0 / 1 | 0 / 120 | 218 | 1.00 | – |",
		"- transferd (Stasis, transferd ari-only; every phone may key `*8` in a call): did not run to the end: level 60: asterisk is not running any more",
		"- native (context `sandbox-direct`: `Dial(PJSIP/${EXTEN},30)`, Asterisk performs the REFERs): levels run: 2, with failures: 0",
		"transferd at 20 calls: 1 of 40 calls failed; failed steps \"A's message is in C's mailbox\" ×1",
		"Logs kept for transferd: transferd /tmp/td.log, Asterisk /var/tmp/a",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "| transferd |") != 1 {
		t.Errorf("transferd has a row at a level it did not run:\n%s", text)
	}
}
