package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Machine describes where the run happened.
type Machine struct {
	CPU       string
	CPUs      int
	Kernel    string
	GoVersion string
	Asterisk  string
}

// ConfigResult is one configuration's ramp.
type ConfigResult struct {
	Name   string
	Levels []LevelResult
	// FirstFailing is the first level with a failure, 0 if none failed.
	FirstFailing int
	Soak         *Soak  // transferd only
	SoakErr      string // why the soak check could not be made
	TransferdLog string
	AsteriskDir  string
	Err          string // the ramp could not run (start failure, ...)

	asterisk string // version line
}

// Report is a whole run.
type Report struct {
	Date        time.Time
	CommandLine string
	Machine     Machine
	Settings    string
	Configs     []ConfigResult
}

// Render writes the report as Markdown.
func (r Report) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# transferd load test: transferd vs Asterisk native transfers\n\n")
	fmt.Fprintf(&b, "- Date: %s\n", r.Date.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- Command: `%s`\n", r.CommandLine)
	fmt.Fprintf(&b, "- Machine: %s, %d logical CPUs, Linux %s\n", r.Machine.CPU, r.Machine.CPUs, r.Machine.Kernel)
	fmt.Fprintf(&b, "- Go %s; %s\n", r.Machine.GoVersion, r.Machine.Asterisk)
	fmt.Fprintf(&b, "- Settings: %s\n\n", r.Settings)
	b.WriteString(scenarioText)
	b.WriteString("\n## Results per load level\n\n")
	b.WriteString(levelHeader)
	for _, c := range r.Configs {
		for _, l := range c.Levels {
			b.WriteString(levelRow(l))
		}
	}
	b.WriteString(replicaText(r.Configs))
	b.WriteString(nodesText(r.Configs))
	b.WriteString(glareText(r.Configs))
	b.WriteString(queueText(r.Configs))
	b.WriteString("\n## Where each configuration starts failing\n\n")
	for _, c := range r.Configs {
		b.WriteString(failingLine(c))
	}
	for _, c := range r.Configs {
		if c.Soak != nil || c.SoakErr != "" {
			b.WriteString("\n## Soak check (" + c.Name + ")\n\n")
			b.WriteString(soakText(c))
		}
	}
	b.WriteString(failureText(r.Configs))
	return b.String()
}

const scenarioText = `Each scenario has its own four phones A, B, C, D (fresh SIP and RTP sockets per level):
A calls B, both hear each other; B holds, blind-transfers A to C (REFER → final NOTIFY timed),
hangs up; C answers, A and C hear each other; C holds, calls D, D answers, C and D hear each
other; C sends REFER with Replaces (timed), hangs up its legs; A and D hear each other; A hangs
up, D's call ends. Every step has a timeout; a scenario succeeds only if every step does.
All scenarios of a level run at once (starts spread over the ramp-up). "transferd": phones in
context ` + "`transferd`" + ` (Stasis, REFERs handled by transferd, ari-only) with transferd as a
separate process; "transferd-core": the same with every phone in transferd's fallback mode
(` + "`transfer.core_extensions: .`" + `: Asterisk performs the REFERs, transferd follows); "native": context
` + "`sandbox-direct`" + ` (plain Dial, Asterisk's own transfers).
Latencies are REFER sent → final NOTIFY received at the phone, in ms (nearest-rank percentiles).
CPU is utime+stime from /proc/PID/stat over the level, per 1000 successful transfers (the SIP
phones run in the harness on the same cores). Memory per call: transferd's live heap (heap
allocated, at the scrape just after a GC with the most active calls) and RSS (at the most active
calls), minus the idle values after a GC before the level, divided by those active calls
(transferd_active_calls, scraped every second); transferd's whole live heap is about 2 MiB, so
per-call values of a few KiB, or negative ones, mean the per-call cost is below this measurement's noise.
The phones' endpoints have refer_blind_progress = no (transferd's core fallback needs it), so in
the native configuration Asterisk sends the blind transfer's final NOTIFY as soon as it has
moved the caller on, before the target rings; transferd sends it as soon as it dials the target.
`

const levelHeader = "| config | concurrent | scenarios ok | transfers ok / tried | blind p50 / p95 / p99 ms | attended p50 / p95 / p99 ms | scenarios/s | Asterisk CPU s / 1000 transfers | transferd CPU s / 1000 transfers | harness (phones) CPU s / level wall s | transferd live heap (RSS) per active call, at N calls | left in Asterisk (channels / bridges) |\n" +
	"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"

func levelRow(l LevelResult) string {
	tried, ok := l.Transfers()
	memory := MemoryPerCall(l)
	asteriskCPU, transferdCPU, harnessCPU := PerThousand(l.AsteriskCPU, ok), "–", CPUShare(l.HarnessCPU, l.Wall)
	if throughTransferd(l.Config) {
		transferdCPU = PerThousand(l.TransferdCPU, ok)
	}
	if l.Err != "" { // the level ended before its resources were measured
		asteriskCPU, transferdCPU, harnessCPU = "–", "–", "–"
	}
	return fmt.Sprintf("| %s | %d | %d / %d | %d / %d | %s | %s | %s | %s | %s | %s | %s | %d / %d |\n",
		l.Config, l.Level, l.Succeeded, l.Scenarios, ok, tried,
		FormatLatencies(l.Blind), FormatLatencies(l.Attended), Rate(l.Succeeded, l.Wall),
		asteriskCPU, transferdCPU, harnessCPU, memory, l.ChannelsLeft, l.BridgesLeft)
}

// replicaText is the transferd-ha section: per level, what was done to
// the replicas, the calls and transfers that failed, and the takeovers
// ("" when no transferd-ha level ran).
func replicaText(configs []ConfigResult) string {
	var rows strings.Builder
	for _, c := range configs {
		for _, l := range c.Levels {
			if l.Config == configTransferdHA {
				rows.WriteString(replicaRow(l))
			}
		}
	}
	if rows.Len() == 0 {
		return ""
	}
	return "\n## Replicas (" + configTransferdHA + ")\n\n" + replicaIntro + "\n" + replicaHeader + rows.String() + faultTimes(configsNamed(configs, configTransferdHA))
}

// faultTimes lists when the serving replicas were killed or SIGTERMed, to
// set beside the failures' times.
func faultTimes(configs []ConfigResult) string {
	var b strings.Builder
	for _, c := range configs {
		for _, l := range c.Levels {
			if l.Faults == nil || len(l.Faults.At) == 0 {
				continue
			}
			var at []string
			for _, t := range l.Faults.At {
				at = append(at, t.Format("15:04:05.000"))
			}
			fmt.Fprintf(&b, "\nServing replica taken down at %d concurrent (local time, as the failures below): %s.\n", l.Level, strings.Join(at, ", "))
		}
	}
	return b.String()
}

const replicaIntro = `Asterisk connects out (outbound ARI WebSocket, REST over it) to HAProxy (internal/haproxy,
` + "`balance first`" + `, /readyz checked every 300 ms), which forwards to the first of two transferd
replicas (outbound mode, same settings as "transferd"). A kill is a SIGKILL of the replica whose
/metrics says ` + "`" + connectedMetric + " 1`" + `, followed at once by a fresh process on its addresses; a
rolling upgrade SIGTERMs each replica in turn, standbys first and the serving one last (killed if
still running after 10 s), starts a fresh process on its addresses and waits for its /readyz
before the next. The takeover time runs from
the kill (or the SIGTERM of the serving replica) to the first scrape (every 5 ms, all replicas)
where a successor reports ` + "`" + connectedMetric + " 1`" + ` (set once it adopted the calls in
progress) and ` + "`" + eventsReadMetric + "`" + ` above its value before the handover (an event read off
Asterisk's connection, just before the engine's queue; no metric counts handled events).
A failed call is a failed scenario. In a run with faults, a quartet whose scenario failed closes
its four phones (hanging up what is left), waits 2 s, registers four fresh ones on the same
extensions and carries on, so the load stays at the level through every fault; without faults
it stops there, as in the other configurations. A failed call is "near a fault" when its failing
step began at most 15 s (the default step timeout) before a serving replica was taken down, or at
most 2 s after. A failed transfer is one tried whose final NOTIFY was not 200 in time.
`

// A failure near a fault: its step was under way at the fault (a step
// lasts at most the default step timeout) or began just after it, while
// the successor took over.
const (
	nearBefore = 15 * time.Second
	nearAfter  = 2 * time.Second
)

const replicaHeader = "| concurrent | faults | kills | rolling upgrades (replicas replaced) | failed calls (scenarios) | of which near a fault | failed transfers | takeover p50 / p99 / max ms (n) | handovers without a successor seen | SIGTERMed replicas killed after 10 s | fault errors |\n" +
	"|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"

func replicaRow(l LevelResult) string {
	tried, ok := l.Transfers()
	f := l.Faults
	if f == nil {
		f = &FaultResult{Plan: "none"}
	}
	near := NearFaults(l.FailedAt, f.At, nearBefore, nearAfter)
	return fmt.Sprintf("| %d | %s | %d | %d (%d) | %d / %d | %d | %d / %d | %s | %d | %d | %s |\n",
		l.Level, f.Plan, f.Kills, f.Upgrades, f.Replaced, l.Scenarios-l.Succeeded, l.Scenarios, near, tried-ok, tried,
		FormatTakeovers(f.Takeovers), f.Unobserved, f.Forced, orDash(strings.Join(f.Errors, "; ")))
}

// FormatTakeovers renders "p50 / p99 / max (n)" in milliseconds, "–" for
// none.
func FormatTakeovers(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s / %s (%d)", ms(Percentile(ds, 50)), ms(Percentile(ds, 99)), ms(Percentile(ds, 100)), len(ds))
}

// glareText lists the levels where hold re-INVITEs met 491 and were
// retried (not failures: desk phones retry, RFC 3261 section 14.1).
func glareText(configs []ConfigResult) string {
	return perLevelText(configs, func(l LevelResult) int { return l.Glares },
		"Hold re-INVITEs answered 491 (glare) and retried after a random pause")
}

// queueText lists the levels where Asterisk warned that events for the
// ARI application (transferd) piled up.
func queueText(configs []ConfigResult) string {
	return perLevelText(configs, func(l LevelResult) int { return l.QueueWarnings },
		"Asterisk warnings that the ARI application's event queue passed 500 events (`"+ariQueueWarning+"...`)")
}

// perLevelText is a sentence listing the levels where count is not zero
// ("" when it is zero everywhere).
func perLevelText(configs []ConfigResult, count func(LevelResult) int, what string) string {
	var parts []string
	for _, c := range configs {
		for _, l := range c.Levels {
			if n := count(l); n > 0 {
				parts = append(parts, fmt.Sprintf("%s at %d: %d", c.Name, l.Level, n))
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "\n" + what + ": " + strings.Join(parts, "; ") + ".\n"
}

func failingLine(c ConfigResult) string {
	switch {
	case c.Err != "" && c.FirstFailing > 0:
		return fmt.Sprintf("- %s: first failures at %d concurrent scenarios; the ramp ended there: %s\n", c.Name, c.FirstFailing, c.Err)
	case c.Err != "":
		return fmt.Sprintf("- %s: did not run to the end: %s\n", c.Name, c.Err)
	case c.FirstFailing > 0:
		return fmt.Sprintf("- %s: first failures at %d concurrent scenarios\n", c.Name, c.FirstFailing)
	case len(c.Levels) > 0:
		return fmt.Sprintf("- %s: no failure up to %d concurrent scenarios\n", c.Name, c.Levels[len(c.Levels)-1].Level)
	}
	return fmt.Sprintf("- %s: no level ran\n", c.Name)
}

func soakText(c ConfigResult) string {
	if c.Soak == nil {
		return "Not measured: " + c.SoakErr + "\n"
	}
	s := *c.Soak
	g, h := s.Returned()
	var b strings.Builder
	fmt.Fprintf(&b, "transferd at rest before the first level, and after the calls of the last level that passed (%d concurrent scenarios) ended:\n\n", s.AfterLevel)
	b.WriteString("| transferd at rest | before the run | after the run | back to baseline |\n|---|---:|---:|---|\n")
	fmt.Fprintf(&b, "| goroutines | %d | %d | %s (slack %d) |\n", s.Before.Goroutines, s.After.Goroutines, yesNo(g), goroutineSlack)
	fmt.Fprintf(&b, "| live heap after GC | %s | %s | %s (slack %s) |\n", FormatBytes(s.Before.HeapAlloc), FormatBytes(s.After.HeapAlloc), yesNo(h), FormatBytes(heapSlack))
	fmt.Fprintf(&b, "| RSS | %s | %s | (informative) |\n", FormatBytes(s.Before.RSS), FormatBytes(s.After.RSS))
	var left []string
	for _, l := range c.Levels {
		left = append(left, fmt.Sprintf("%d/%d", l.ChannelsLeft, l.BridgesLeft))
	}
	fmt.Fprintf(&b, "\nChannels/bridges left in Asterisk after each level: %s.\n", strings.Join(left, ", "))
	if len(s.Outcomes) > 0 {
		b.WriteString("transferd_transfers_total after the run: ")
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s.Outcomes)) {
			parts = append(parts, fmt.Sprintf("`%s` %.0f", k, s.Outcomes[k]))
		}
		b.WriteString(strings.Join(parts, ", ") + ".\n")
	}
	return b.String()
}

func failureText(configs []ConfigResult) string {
	var b strings.Builder
	for _, c := range configs {
		for _, l := range c.Levels {
			if !l.Failed() {
				continue
			}
			if b.Len() == 0 {
				b.WriteString("\n## Failures\n\n")
			}
			fmt.Fprintf(&b, "%s at %d concurrent: ", c.Name, l.Level)
			var steps []string
			for _, s := range slices.Sorted(maps.Keys(l.FailedSteps)) {
				steps = append(steps, fmt.Sprintf("%q ×%d", s, l.FailedSteps[s]))
			}
			fmt.Fprintf(&b, "failed steps %s; left %d channels / %d bridges. First errors:\n", strings.Join(steps, ", "), l.ChannelsLeft, l.BridgesLeft)
			for _, f := range l.Failures {
				fmt.Fprintf(&b, "- %s\n", f)
			}
			if l.Err != "" {
				fmt.Fprintf(&b, "- level not measured to the end: %s\n", l.Err)
			}
			for _, k := range l.Kernel {
				fmt.Fprintf(&b, "- kernel: `%s`\n", k)
			}
			for _, line := range l.Console {
				fmt.Fprintf(&b, "- Asterisk console: `%s`\n", line)
			}
			b.WriteString("\n")
		}
		if b.Len() > 0 && (c.TransferdLog != "" || c.AsteriskDir != "") {
			fmt.Fprintf(&b, "Logs kept for %s: transferd %s, Asterisk %s\n\n", c.Name, orDash(c.TransferdLog), orDash(c.AsteriskDir))
		}
	}
	return b.String()
}

// MemoryPerCall renders transferd's live heap and RSS growth per active
// call, "–" where nothing was sampled.
func MemoryPerCall(l LevelResult) string {
	per := func(delta int64, calls int) string {
		if calls == 0 {
			return "–"
		}
		return FormatBytes(delta/int64(calls)) + " at " + strconv.Itoa(calls)
	}
	if l.PeakActiveCalls == 0 {
		return "–"
	}
	return per(l.HeapDelta, l.HeapActiveCalls) + " (" + per(l.RSSDelta, l.PeakActiveCalls) + ")"
}

// FormatLatencies renders "p50 / p95 / p99" in milliseconds, "–" for none.
func FormatLatencies(l Latencies) string {
	if l.N == 0 {
		return "–"
	}
	return ms(l.P50) + " / " + ms(l.P95) + " / " + ms(l.P99)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

// CPUShare renders CPU time over wall time ("1.20" is 1.2 cores busy).
func CPUShare(cpu, wall time.Duration) string {
	if wall <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", cpu.Seconds()/wall.Seconds())
}

// PerThousand renders CPU time per 1000 transfers in seconds.
func PerThousand(cpu time.Duration, transfers int) string {
	if transfers == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", cpu.Seconds()*1000/float64(transfers))
}

// Rate renders n per second over wall.
func Rate(n int, wall time.Duration) string {
	if wall <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(n)/wall.Seconds())
}

// FormatBytes renders a byte count in binary units; negative deltas (a GC
// between the samples) stay visible.
func FormatBytes(n int64) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%s%.1f MiB", sign, float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%s%.1f KiB", sign, float64(n)/(1<<10))
	}
	return fmt.Sprintf("%s%d B", sign, n)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
