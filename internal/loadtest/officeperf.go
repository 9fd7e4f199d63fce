package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Where Asterisk's CPU goes (issue 23: "where a target is out of reach,
// the report shows where the remaining cost goes"): with -perf-asterisk,
// Linux perf samples the Asterisk process over each level's window, and
// the report lists its hottest functions.

// perfRecording is a running `perf record` of one process.
type perfRecording struct {
	cmd  *exec.Cmd
	data string
	out  strings.Builder
}

// startPerf samples pid's on-CPU stacks at 499 Hz for d into data.
func startPerf(ctx context.Context, pid int, data string, d time.Duration) (*perfRecording, error) {
	r := &perfRecording{data: data}
	secs := strconv.FormatFloat(d.Seconds(), 'f', 1, 64)
	r.cmd = exec.CommandContext(ctx, "perf", "record", "-F", "499", "-p", strconv.Itoa(pid), "-o", data, "--", "sleep", secs)
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record (is linux-perf installed?): %w", err)
	}
	return r, nil
}

// wait waits for the recording to end.
func (r *perfRecording) wait() error {
	if err := r.cmd.Wait(); err != nil {
		return fmt.Errorf("perf record: %w: %s", err, strings.TrimSpace(r.out.String()))
	}
	return nil
}

// perfTop summarises a recording: the share of the samples in each file
// (the kernel, libc, asterisk, each module), then the functions with at
// least 0.8 % of them. (perf records the sandbox's binaries by their
// paths outside its chroot, so no --symfs.)
func perfTop(ctx context.Context, data string) (string, error) {
	var b strings.Builder
	for _, sort := range []string{"dso", "dso,sym"} {
		out, err := exec.CommandContext(ctx, "perf", "report", "-i", data, "--stdio", "--no-children",
			"--sort", sort, "--percent-limit", "0.8").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("perf report --sort %s: %w: %s", sort, err, strings.TrimSpace(string(out)))
		}
		if b.Len() > 0 {
			b.WriteString("--\n")
		}
		b.WriteString(PerfLines(string(out)))
	}
	return b.String(), nil
}

// PerfLines keeps the sample lines of `perf report --stdio` (drops the
// comments and blank lines), at most 30.
func PerfLines(report string) string {
	var b strings.Builder
	n := 0
	sc := bufio.NewScanner(strings.NewReader(report))
	for sc.Scan() && n < 30 {
		line := strings.TrimRight(sc.Text(), " ")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		b.WriteString(strings.TrimSpace(line) + "\n")
		n++
	}
	return b.String()
}
