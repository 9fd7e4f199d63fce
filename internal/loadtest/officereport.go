package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// OfficeReport is a whole run of the office mix.
type OfficeReport struct {
	Date        time.Time
	CommandLine string
	Machine     Machine
	Settings    officeSettings
	StepTimeout time.Duration
	Hear        time.Duration
	Configs     []OfficeConfig
}

// Render writes the report as Markdown: one table per level, a row per
// configuration.
func (r OfficeReport) Render() string {
	var b strings.Builder
	b.WriteString("# transferd office mix: Asterisk's CPU per call-minute\n\n")
	fmt.Fprintf(&b, "- Date: %s\n", r.Date.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- Command: `%s`\n", r.CommandLine)
	fmt.Fprintf(&b, "- Machine: %s, %d logical CPUs, Linux %s\n", r.Machine.CPU, r.Machine.CPUs, r.Machine.Kernel)
	fmt.Fprintf(&b, "- Go %s; %s\n", r.Machine.GoVersion, r.Machine.Asterisk)
	fmt.Fprintf(&b, "- Settings: calls of %s, window %s, %s of the calls transferred (%s in turn), step timeout %s, hearing window %s\n\n",
		r.Settings.callDuration, r.Settings.window, percent(r.Settings.share), strings.Join(r.Settings.kinds, ", "), r.StepTimeout, r.Hear)
	b.WriteString(officeText)
	b.WriteString("\n## Results per level\n")
	for _, n := range r.levels() {
		fmt.Fprintf(&b, "\n### %d calls at once\n\n", n)
		b.WriteString(officeHeader)
		native := r.nativeAt(n)
		for _, c := range r.Configs {
			for _, l := range c.Levels {
				if l.Level == n {
					b.WriteString(officeRow(l, native))
				}
			}
		}
	}
	b.WriteString(officeConfigLines(r.Configs))
	b.WriteString(officeFailures(r.Configs))
	b.WriteString(officeProfiles(r.Configs))
	return b.String()
}

const officeText = `Each configuration runs on its own sandbox Asterisk (internal/sandbox), its levels in order, each
level on fresh phones (internal/sipphone: G.711; a phone in a call sends its own tone all the time,
and analyses what it receives only when a check asks). At a level of N, N slots each keep one call
up: slot i places its first call i/N of a call duration after the first one, so the calls' ends
are spread as evenly as their starts, and places the next call as soon as one ends. A call: A calls
B, B answers, A and B hear each other; it lasts the call duration from the answer, then A hangs up
and the other party's call must end. Every 1/share-th call is transferred by B a third of the way
in, the kinds in turn:
- blind: B holds A, REFERs A to C, is told 200 (final NOTIFY) and hangs up; C answers; A and C hear
  each other.
- attended: B holds A, calls C, B and C hear each other; B REFERs with Replaces, is told 200 and hangs
  up both legs; A and C hear each other.
- star8: in transferd and transferd-core B keys ` + "`*8`" + ` and C's extension during the call (RFC 4733),
  A hears music, B hangs up; in native, native-features and transferd-native (no in-call ` + "`*8`" + `) B
  holds A and sends a blind REFER to ` + "`*8`" + `<C's extension> (Tran, *8, number), is told 200 and hangs
  up, and A hears the greeting (native: the sandbox dialplan's ` + "`_*8X.`" + ` extension, VoiceMail()).
  A stays in C's voicemail until the call's end; C's mailbox must then hold one message more.
A call fails at its first failing step (each step has the step timeout; a call that ends before its
time fails too); its slot replaces its four phones with fresh ones (2 s pause) and carries on.

The window starts one call duration after the level's first call (every slot's first call is up,
the calls' ages spread over a call duration) and lasts -window. Over it: CPU (utime+stime from
/proc/PID/stat) of Asterisk, transferd and the harness (the phones run in the harness on the same
cores), and the machine's busy share of all its cores (/proc/stat); call-minutes, the integral of
answered calls over the window (each call counts from its answer to A's BYE, only inside the
window; not level × window); the calls answered in it; the transfers begun in it (ok / tried; one
the level's end interrupted is not counted); Asterisk's bridges by technology (CLI ` + "`bridge show all`" + `
at mid-window). Failed calls count over the whole level. When the window ends the calls still up
are hung up (not failures); Asterisk must hold no channel and no bridge 15 s later.
"× native" is Asterisk's CPU per call-minute over native's at the same level, same run.
Asterisk's CPU per transfer is not computed: one window cannot separate the transfers' CPU from the
calls'. Its transfer counts stand beside the CPU; for what transfers add, compare a run with
-transfer-share 0 (native-features and transferd differ in the bridge, not in the transfers).
`

const officeHeader = "| configuration | calls answered in window | mean calls up | call-minutes | blind ok / tried | attended ok / tried | star8 ok / tried | failed calls / ended | Asterisk ms CPU per call-minute | × native | transferd ms CPU per call-minute | harness CPU (cores) | machine busy | bridges at mid-window | left in Asterisk (channels / bridges) |\n" +
	"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n"

func officeRow(l OfficeLevel, native float64) string {
	asterisk, ratio, transferd, harness, busy := "–", "–", "–", "–", "–"
	if l.Window > 0 && l.Err == "" {
		per := asteriskPerCallMinute(l)
		asterisk = formatPerCallMinute(per)
		if r := per / native; !math.IsNaN(r) && !math.IsInf(r, 0) {
			ratio = fmt.Sprintf("%.2f", r)
		}
		if throughTransferd(l.Config) {
			transferd = perCallMinute(l.TransferdCPU, l.CallMinutes)
		}
		harness = CPUShare(l.HarnessCPU, l.Window)
		if l.MachineTotal > 0 {
			busy = percent(float64(l.MachineBusy) / float64(l.MachineTotal))
		}
	}
	bridges := FormatTechnologies(l.Bridges)
	if l.BridgesErr != "" {
		bridges = "? (" + l.BridgesErr + ")"
	}
	kinds := make([]string, len(transferKinds))
	for i, k := range transferKinds {
		kinds[i] = "–"
		if t := l.Transfers[k]; t.Tried > 0 {
			kinds[i] = fmt.Sprintf("%d / %d", t.OK, t.Tried)
		}
	}
	return fmt.Sprintf("| %s | %d | %.1f | %.1f | %s | %d / %d | %s | %s | %s | %s | %s | %s | %d / %d |\n",
		l.Config, l.Answered, meanUp(l), l.CallMinutes, strings.Join(kinds, " | "), l.FailedCalls, l.Calls,
		asterisk, ratio, transferd, harness, busy, bridges, l.ChannelsLeft, l.BridgesLeft)
}

// asteriskPerCallMinute is Asterisk's CPU in ms per call-minute of the
// window, NaN without call-minutes.
func asteriskPerCallMinute(l OfficeLevel) float64 {
	if l.CallMinutes <= 0 {
		return math.NaN()
	}
	return float64(l.AsteriskCPU) / float64(time.Millisecond) / l.CallMinutes
}

// perCallMinute renders CPU time in ms per call-minute, "–" without
// call-minutes.
func perCallMinute(cpu time.Duration, callMinutes float64) string {
	if callMinutes <= 0 {
		return "–"
	}
	return formatPerCallMinute(float64(cpu) / float64(time.Millisecond) / callMinutes)
}

func formatPerCallMinute(ms float64) string {
	if math.IsNaN(ms) {
		return "–"
	}
	return fmt.Sprintf("%.0f", ms)
}

// meanUp is the mean number of answered calls over the window.
func meanUp(l OfficeLevel) float64 {
	if l.Window <= 0 {
		return 0
	}
	return l.CallMinutes / l.Window.Minutes()
}

// levels lists every level any configuration ran, in order.
func (r OfficeReport) levels() []int {
	var levels []int
	for _, c := range r.Configs {
		for _, l := range c.Levels {
			if !slices.Contains(levels, l.Level) {
				levels = append(levels, l.Level)
			}
		}
	}
	slices.Sort(levels)
	return levels
}

// nativeAt is native's Asterisk CPU per call-minute at level n, NaN when
// native did not run it.
func (r OfficeReport) nativeAt(n int) float64 {
	for _, c := range r.Configs {
		for _, l := range c.Levels {
			if l.Config == configNative && l.Level == n && l.Err == "" && l.Window > 0 {
				return asteriskPerCallMinute(l)
			}
		}
	}
	return math.NaN()
}

// officeConfigLines says, per configuration, whether it ran to the end.
func officeConfigLines(configs []OfficeConfig) string {
	var b strings.Builder
	b.WriteString("\n## Configurations\n\n")
	for _, c := range configs {
		fmt.Fprintf(&b, "- %s (%s): ", c.Name, configDescription(c.Name))
		switch {
		case c.Err != "":
			fmt.Fprintf(&b, "did not run to the end: %s\n", c.Err)
		case len(c.Levels) == 0:
			b.WriteString("no level ran\n")
		default:
			failed := 0
			for _, l := range c.Levels {
				if l.Failed() {
					failed++
				}
			}
			fmt.Fprintf(&b, "levels run: %d, with failures: %d\n", len(c.Levels), failed)
		}
	}
	return b.String()
}

// configDescription says in a few words what a configuration is.
func configDescription(name string) string {
	switch name {
	case configNative:
		return "context `sandbox-direct`: `Dial(PJSIP/${EXTEN},30)`, Asterisk performs the REFERs"
	case configNativeFeatures:
		return "context `sandbox-direct-features`: `Dial(PJSIP/${EXTEN},30,tT)`, Asterisk listens for DTMF features"
	case configTransferd:
		return "Stasis, transferd ari-only; every phone may key `*8` in a call"
	case configTransferdNative:
		return "as transferd with `voicemail.refer_only_extensions: .`: no in-call `*8`, plain `mixing` bridges"
	case configTransferdInfo:
		return "as transferd with every phone sending DTMF as SIP INFO (`dtmf_mode = info`, `voicemail.info_dtmf_extensions: .`): in-call `*8` over plain `mixing` bridges"
	case configTransferdCore:
		return "as transferd with every phone in the core fallback: Asterisk performs the REFERs, transferd follows"
	}
	return name
}

// officeFailures lists each level's failed steps and first errors.
func officeFailures(configs []OfficeConfig) string {
	var b strings.Builder
	for _, c := range configs {
		wrote := false
		for _, l := range c.Levels {
			if !l.Failed() {
				continue
			}
			if b.Len() == 0 {
				b.WriteString("\n## Failures\n\n")
			}
			wrote = true
			var steps []string
			for _, s := range slices.Sorted(maps.Keys(l.FailedSteps)) {
				steps = append(steps, fmt.Sprintf("%q ×%d", s, l.FailedSteps[s]))
			}
			fmt.Fprintf(&b, "%s at %d calls: %d of %d calls failed; failed steps %s; left %d channels / %d bridges. First errors:\n",
				c.Name, l.Level, l.FailedCalls, l.Calls, orDash(strings.Join(steps, ", ")), l.ChannelsLeft, l.BridgesLeft)
			for _, f := range l.Failures {
				fmt.Fprintf(&b, "- %s\n", f)
			}
			if l.Err != "" {
				fmt.Fprintf(&b, "- level not measured to the end: %s\n", l.Err)
			}
			b.WriteString("\n")
		}
		if wrote {
			fmt.Fprintf(&b, "Logs kept for %s: transferd %s, Asterisk %s\n\n", c.Name, orDash(c.TransferdLog), orDash(c.AsteriskDir))
		}
	}
	return b.String()
}

// percent renders a share as "12 %".
func percent(share float64) string {
	return fmt.Sprintf("%.0f %%", share*100)
}

// formatTransfers renders transfers as "blind 2/2, star8 1/1" (ok/tried),
// "none" for none.
func formatTransfers(ts map[string]TransferCount) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(ts)) {
		parts = append(parts, fmt.Sprintf("%s %d/%d", k, ts[k].OK, ts[k].Tried))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// officeProfiles lists, per configuration and level profiled
// (-perf-asterisk), Asterisk's hottest functions over the window.
func officeProfiles(configs []OfficeConfig) string {
	var b strings.Builder
	for _, c := range configs {
		for _, l := range c.Levels {
			if l.AsteriskProfile == "" {
				continue
			}
			if b.Len() == 0 {
				b.WriteString("\n## Where Asterisk's CPU goes\n\n")
				b.WriteString("`perf record -F 499 -p <asterisk>` over each window; `perf report --no-children --sort dso`, then " +
					"`--sort dso,sym`: share of Asterisk's samples by file, then by function (under 0.8 % left out; `[k]` is " +
					"the kernel, where the samples of a system call land on this VM's `pvm_irq_enable`).\n")
			}
			fmt.Fprintf(&b, "\n%s at %d calls:\n\n```\n%s```\n", c.Name, l.Level, l.AsteriskProfile)
		}
	}
	return b.String()
}
