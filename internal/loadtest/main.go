package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// flags are the command line.
type flags struct {
	levels      []int
	configs     []string
	out         string
	stepTimeout time.Duration
	hear        time.Duration
	rampUp      time.Duration
	repeatFor   time.Duration
	bin         string
	keepGoing   bool
	sipTrace    bool
	logLevel    string
	haREST      string // transferd-ha: the replicas' ari.rest
	faults      faultPlan
	chart       string // a report to draw as a chart instead of a run
	mix         string // mixRamp or mixOffice
	office      officeSettings
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	levels := fs.String("levels", "10,25,50,100,150,200", "concurrent call scenarios per load level, in ramp order")
	configs := fs.String("configs", configTransferd+","+configTransferdCore+","+configNative, "configurations to measure")
	fs.StringVar(&f.out, "out", filepath.Join("internal", "loadtest", "results.md"), "Markdown results file (its chart goes beside it, .svg)")
	fs.StringVar(&f.chart, "chart", "", "draw the ramp of this report (a results file the harness wrote) as a chart beside it (.svg), and run nothing")
	fs.DurationVar(&f.stepTimeout, "step-timeout", 15*time.Second, "time each scenario step may take")
	fs.DurationVar(&f.hear, "hear", 400*time.Millisecond, "how long a phone must hear the other's voice to count as talking")
	fs.DurationVar(&f.rampUp, "ramp-up", 2*time.Second, "scenarios of a level start spread over this")
	fs.DurationVar(&f.repeatFor, "repeat-for", 0, "soak: each group of phones repeats its scenario until this long after the level started (0: once)")
	fs.StringVar(&f.bin, "transferd-bin", "", "transferd binary to run (default: build ./cmd/transferd)")
	fs.BoolVar(&f.keepGoing, "keep-going", false, "run every level even after one failed (to compare configurations past the first failure)")
	fs.BoolVar(&f.sipTrace, "sip-trace", false, "log every SIP message in Asterisk's messages.log (pjsip set logger on), for diagnosis")
	fs.StringVar(&f.logLevel, "transferd-log-level", "info", "transferd's log.level")
	fs.StringVar(&f.haREST, "ha-rest", "websocket", configTransferdHA+": where the replicas send REST requests (ari.rest): websocket (over Asterisk's connection) or http (to Asterisk's HTTP server)")
	killEvery := fs.Duration("kill-every", 0, configTransferdHA+", "+configTransferdNodes+": SIGKILL the replica Asterisk (node1) is connected to this often during a level, and start a fresh one in its place (needs -repeat-for)")
	rollingEvery := fs.Duration("rolling-every", 0, configTransferdHA+", "+configTransferdNodes+": replace every replica in turn (SIGTERM, fresh process, its /readyz) this often during a level (needs -repeat-for)")
	fs.StringVar(&f.mix, "mix", mixRamp, "workload: "+mixRamp+" (call scenarios that each go through a blind and an attended transfer) or "+mixOffice+" (calls of -call-duration at a steady level, -transfer-share of them transferred)")
	callDuration := fs.Duration("call-duration", time.Minute, mixOffice+": how long each call lasts, from its answer")
	window := fs.Duration("window", 0, mixOffice+": the measured steady window of each level (default and minimum: -call-duration)")
	share := fs.Float64("transfer-share", 0.1, mixOffice+": share of the calls transferred during the call")
	kinds := fs.String("transfer-kinds", strings.Join(transferKinds, ","), mixOffice+": the transfers' kinds, taken in turn")
	perf := fs.Bool("perf-asterisk", false, mixOffice+": sample Asterisk with Linux perf over each window and list its hottest functions (costs Asterisk a little CPU: profile in a run of its own)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var err error
	switch f.mix {
	case mixOffice:
		if f.office, err = officeFlags(&f, set, levels, configs, *callDuration, *window, *share, *kinds); err != nil {
			return f, err
		}
		f.office.perf = *perf
	case mixRamp:
		for _, name := range []string{"call-duration", "window", "transfer-share", "transfer-kinds", "perf-asterisk"} {
			if set[name] {
				return f, fmt.Errorf("-%s: only with -mix %s", name, mixOffice)
			}
		}
	default:
		return f, fmt.Errorf("-mix %q: want %s or %s", f.mix, mixRamp, mixOffice)
	}
	if f.levels, err = ParseLevels(*levels, maxLevel); err != nil {
		return f, err
	}
	for _, c := range strings.Split(*configs, ",") {
		if !knownConfig(c) {
			return f, fmt.Errorf("-configs: unknown configuration %q (want %s, %s, %s, %s, %s, %s, %s or %s)", c,
				configTransferd, configTransferdCore, configTransferdNative, configTransferdInfo, configTransferdHA, configTransferdNodes, configNative, configNativeFeatures)
		}
		f.configs = append(f.configs, c)
	}
	if f.haREST != "websocket" && f.haREST != "http" {
		return f, fmt.Errorf("-ha-rest %q: want websocket or http", f.haREST)
	}
	f.faults, err = newFaultPlan(*killEvery, *rollingEvery, f.repeatFor, f.configs)
	return f, err
}

// officeFlags checks the flags of -mix office and gives -levels, -configs
// and -out the office mix's defaults where they were not set.
func officeFlags(f *flags, set map[string]bool, levels, configs *string, callDuration, window time.Duration, share float64, kinds string) (officeSettings, error) {
	for _, name := range []string{"repeat-for", "kill-every", "rolling-every", "ramp-up", "keep-going"} {
		if set[name] {
			return officeSettings{}, fmt.Errorf("-%s: not with -mix %s (its calls start spread over one call duration, and every level runs)", name, mixOffice)
		}
	}
	if !set["levels"] {
		*levels = officeLevels
	}
	if !set["configs"] {
		*configs = officeConfigs
	}
	if !set["out"] {
		f.out = officeOut
	}
	for _, c := range strings.Split(*configs, ",") {
		if withReplicas(c) {
			return officeSettings{}, fmt.Errorf("-configs: %s is not measured with -mix %s", c, mixOffice)
		}
	}
	return newOfficeSettings(callDuration, window, share, kinds)
}

// ParseLevels reads a comma-separated list of positive, increasing levels
// no larger than limit.
func ParseLevels(s string, limit int) ([]int, error) {
	var levels []int
	for _, field := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil {
			return nil, fmt.Errorf("-levels: %q: %w", field, err)
		}
		if n < 1 || n > limit {
			return nil, fmt.Errorf("-levels: %d is not between 1 and %d", n, limit)
		}
		if len(levels) > 0 && n <= levels[len(levels)-1] {
			return nil, fmt.Errorf("-levels: %d after %d: a ramp goes up", n, levels[len(levels)-1])
		}
		levels = append(levels, n)
	}
	return levels, nil
}

func run(ctx context.Context, args []string) error {
	f, err := parseFlags(args)
	if err != nil {
		return err
	}
	if f.chart != "" {
		return chartReport(f.chart)
	}
	workDir, err := os.MkdirTemp("", "transferd-loadtest-")
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	// sipgo logs through slog's default logger: it warns about every UDP
	// socket a closing phone releases, and under load reports 2xx
	// retransmissions and RTCP that Asterisk sends to RTP port + 1 (which
	// may be another phone's SIP socket). Keep its errors in a file.
	sipLog, err := os.Create(filepath.Join(workDir, "sipphones.log"))
	if err != nil {
		return fmt.Errorf("sip phones log: %w", err)
	}
	defer sipLog.Close()
	slog.SetDefault(slog.New(slog.NewTextHandler(sipLog, &slog.HandlerOptions{Level: slog.LevelError})))
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
	}
	if f.bin == "" {
		logf("building transferd")
		if f.bin, err = buildTransferd(ctx, workDir); err != nil {
			return err
		}
	}
	if f.mix == mixOffice {
		return runOfficeMix(ctx, f, args, workDir, logf)
	}
	rep := Report{
		Date:        time.Now(),
		CommandLine: strings.TrimSpace("go run ./internal/loadtest " + strings.Join(args, " ")),
		Machine:     machine(),
		Settings: fmt.Sprintf("levels %v, step timeout %s, hearing window %s, ramp-up %s, repeat for %s",
			f.levels, f.stepTimeout, f.hear, f.rampUp, f.repeatFor),
	}
	if slices.Contains(f.configs, configTransferdHA) {
		rep.Settings += ", " + configTransferdHA + " faults: " + f.faults.String() + ", REST over " + f.haREST
	}
	if slices.Contains(f.configs, configTransferdNodes) {
		rep.Settings += ", " + configTransferdNodes + " faults: " + f.faults.describe(nodeServing(nodeName(0)))
	}
	opts := levelOptions{stepTimeout: f.stepTimeout, hear: f.hear, rampUp: f.rampUp, repeatFor: f.repeatFor, faults: f.faults, logf: logf}
	for _, name := range f.configs {
		c := runConfig(ctx, name, f, opts, filepath.Join(workDir, name), &rep.Machine)
		rep.Configs = append(rep.Configs, c)
		if ctx.Err() != nil {
			break
		}
	}
	text := rep.Render()
	if err := os.WriteFile(f.out, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	fmt.Print(text)
	logf("results written to %s (work directory %s)", f.out, workDir)
	if ramp := rampPoints(rep.Configs); len(ramp) > 0 {
		if err := WriteChart(ChartPath(f.out), ramp); err != nil {
			return err // the results are written: only the chart is missing
		}
		logf("chart written to %s", ChartPath(f.out))
	}
	return ctx.Err()
}

// chartReport draws a report's ramp beside it: a committed report's chart
// without running the hour-long ramp again.
func chartReport(report string) error {
	f, err := os.Open(report)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	defer f.Close()
	ramp, err := ParseRamp(report, f)
	if err != nil {
		return fmt.Errorf("chart: read the ramp: %w", err)
	}
	if err := WriteChart(ChartPath(report), ramp); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "chart of %s written to %s\n", report, ChartPath(report))
	return nil
}

// runConfig starts one configuration and ramps it up until a level fails.
func runConfig(ctx context.Context, name string, f flags, opts levelOptions, dir string, m *Machine) ConfigResult {
	c := ConfigResult{Name: name}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.Err = err.Error()
		return c
	}
	opts.logf("%s: starting Asterisk with %d phones", name, 4*f.levels[len(f.levels)-1])
	t, err := startTarget(ctx, name, extensions(f.levels[len(f.levels)-1]), f.bin, f.logLevel, f.haREST, dir, opts.logf)
	if err != nil {
		c.Err = err.Error()
		return c
	}
	if f.sipTrace {
		for _, sb := range t.asterisks() {
			if out, err := sb.CLI(ctx, "pjsip set logger on"); err != nil {
				opts.logf("%s: sip trace: %v: %s", name, err, out)
			}
		}
	}
	ramp(ctx, t, &c, f.levels, f.keepGoing, opts)
	t.stop()
	if m.Asterisk == "" {
		m.Asterisk = c.asterisk
	}
	if c.FirstFailing > 0 || c.Err != "" {
		// Evidence: each Asterisk's log is in log/.
		var dirs []string
		for _, sb := range t.asterisks() {
			dirs = append(dirs, sb.Dir)
		}
		c.AsteriskDir = strings.Join(dirs, ", ")
	} else {
		t.removeDirs()
	}
	return c
}

// ramp runs the levels in order on a started target, stopping at the first
// level with a failure unless keepGoing. For transferd it compares
// transferd at rest before the run with after each level that passed, so
// the soak check stands even when a later level breaks Asterisk.
func ramp(ctx context.Context, t *target, c *ConfigResult, levels []int, keepGoing bool, opts levelOptions) {
	c.asterisk = t.asteriskVersion(ctx)
	var before Idle
	var err error
	if t.ha != nil {
		c.TransferdLog = t.ha.dir // every replica's log, and HAProxy's
	}
	if t.td != nil {
		c.TransferdLog = t.td.logPath
		if before, err = t.idle(ctx, time.Minute, soakSettle); err != nil {
			c.SoakErr = "baseline: " + err.Error()
		}
	}
	for _, n := range levels {
		opts.logf("%s: level %d", c.Name, n)
		res, err := runLevel(ctx, t, n, opts)
		if res.Wall > 0 {
			c.Levels = append(c.Levels, res)
			tried, ok := res.Transfers()
			opts.logf("%s: level %d: %d/%d scenarios ok, %d/%d transfers, %s wall, left %d channels %d bridges, failed steps %v",
				c.Name, n, res.Succeeded, res.Scenarios, ok, tried, res.Wall.Round(time.Millisecond), res.ChannelsLeft, res.BridgesLeft, res.FailedSteps)
		}
		if err != nil {
			c.Err = fmt.Sprintf("level %d: %v", n, err)
			if c.FirstFailing == 0 {
				c.FirstFailing = n
			}
			return
		}
		if res.Failed() {
			if c.FirstFailing == 0 {
				c.FirstFailing = n
			}
			if !keepGoing {
				return
			}
			continue
		}
		if t.td != nil && c.SoakErr == "" && c.FirstFailing == 0 {
			c.Soak, c.SoakErr = soak(ctx, t, before)
			if c.Soak != nil {
				c.Soak.AfterLevel = n
			}
		}
	}
}

// soak measures transferd at rest after the run against before.
func soak(ctx context.Context, t *target, before Idle) (*Soak, string) {
	after, err := t.idle(ctx, time.Minute, soakSettle)
	if err != nil {
		return nil, "after the run: " + err.Error()
	}
	outcomes, err := t.outcomes(ctx)
	if err != nil {
		return nil, err.Error()
	}
	return &Soak{Before: before, After: after, Outcomes: outcomes}, ""
}

// machine describes this computer and toolchain.
func machine() Machine {
	m := Machine{GoVersion: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU, m.CPUs = ParseCPUInfo(string(data))
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	return m
}
