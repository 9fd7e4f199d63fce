package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// OfficeConfig is one configuration's run of the office mix: its levels
// in order, on one Asterisk.
type OfficeConfig struct {
	Name   string
	Levels []OfficeLevel
	// Err says why the configuration did not run to the end (it could
	// not start, Asterisk died, ...).
	Err          string
	TransferdLog string
	// AsteriskDir is kept when a level failed: Asterisk's log is in log/.
	AsteriskDir string

	asterisk string // version line
}

// runOfficeMix measures the office mix (issue 23) in every configuration
// and writes the report. The ramp's run has already built transferd and
// set up the work directory and the phones' log.
func runOfficeMix(ctx context.Context, f flags, args []string, workDir string, logf func(string, ...any)) error {
	rep := OfficeReport{
		Date:        time.Now(),
		CommandLine: strings.TrimSpace("go run ./internal/loadtest " + strings.Join(args, " ")),
		Machine:     machine(),
		Settings:    f.office,
		StepTimeout: f.stepTimeout,
		Hear:        f.hear,
	}
	for _, name := range f.configs {
		c := runOfficeConfig(ctx, name, f, filepath.Join(workDir, name), logf)
		rep.Configs = append(rep.Configs, c)
		if rep.Machine.Asterisk == "" {
			rep.Machine.Asterisk = c.asterisk
		}
		if ctx.Err() != nil {
			break
		}
	}
	text := rep.Render()
	if err := os.WriteFile(f.out, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write the office mix report: %w", err)
	}
	fmt.Print(text)
	logf("results written to %s (work directory %s)", f.out, workDir)
	return ctx.Err()
}

// runOfficeConfig starts one configuration and runs every level on it.
// A level with failures does not stop the run: the office mix compares
// the configurations' costs, and the failures are counted beside them.
func runOfficeConfig(ctx context.Context, name string, f flags, dir string, logf func(string, ...any)) OfficeConfig {
	c := OfficeConfig{Name: name}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.Err = err.Error()
		return c
	}
	top := f.levels[len(f.levels)-1]
	logf("%s: starting Asterisk with %d phones", name, 4*top)
	t, err := startTarget(ctx, name, extensions(top), f.bin, f.logLevel, f.haREST, dir, logf)
	if err != nil {
		c.Err = err.Error()
		return c
	}
	if f.sipTrace {
		if out, err := t.sb.CLI(ctx, "pjsip set logger on"); err != nil {
			logf("%s: sip trace: %v: %s", name, err, out)
		}
	}
	c.asterisk = t.asteriskVersion(ctx)
	if t.td != nil {
		c.TransferdLog = t.td.logPath
	}
	opts := officeOptions{officeSettings: f.office, star8ByREFER: star8ByREFER(name), stepTimeout: f.stepTimeout, hear: f.hear, logf: logf}
	if f.office.perf {
		opts.perfDir = dir
	}
	failed := false
	for _, n := range f.levels {
		logf("%s: level %d: calls of %s start over %s, then a %s window", name, n, f.office.callDuration, f.office.callDuration, f.office.window)
		res, err := runOfficeLevel(ctx, t, n, opts)
		if err != nil && res.Err == "" {
			res.Err = err.Error()
		}
		c.Levels = append(c.Levels, res)
		logf("%s: level %d: %.1f call-minutes, Asterisk %s ms CPU per call-minute, %d of %d calls failed, transfers %s, bridges %s, left %d channels %d bridges",
			name, n, res.CallMinutes, perCallMinute(res.AsteriskCPU, res.CallMinutes), res.FailedCalls, res.Calls,
			formatTransfers(res.Transfers), FormatTechnologies(res.Bridges), res.ChannelsLeft, res.BridgesLeft)
		failed = failed || res.Failed()
		if err != nil {
			c.Err = fmt.Sprintf("level %d: %v", n, err)
			break
		}
	}
	t.stop()
	if failed || c.Err != "" {
		c.AsteriskDir = t.sb.Dir
	} else {
		os.RemoveAll(t.sb.Dir)
	}
	return c
}
