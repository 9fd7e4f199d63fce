package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// It is 100 on every Linux architecture Go supports; reading it would need
// sysconf(_SC_CLK_TCK) and cgo.
const clockTicks = 100

// ParseProcStatCPU returns utime+stime from the contents of /proc/PID/stat
// (proc(5): fields 14 and 15). The command name (field 2) is in parentheses
// and may contain spaces, so fields are counted after its closing one.
func ParseProcStatCPU(stat string) (time.Duration, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("proc stat: no command name in %q", stat)
	}
	fields := strings.Fields(stat[end+1:])
	// After the name: field 3 (state) is fields[0], so field n is fields[n-3].
	if len(fields) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: cpu time %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// ProcessCPU reads the user+system CPU time a process has used so far
// (all its threads).
func ProcessCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time of pid %d: %w", pid, err)
	}
	return ParseProcStatCPU(string(data))
}

// ProcessName reads /proc/PID/comm, to check a PID is the process we mean.
func ProcessName(pid int) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "", fmt.Errorf("name of pid %d: %w", pid, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// ParseCPUInfo returns the CPU model and the number of logical CPUs from
// the contents of /proc/cpuinfo.
func ParseCPUInfo(cpuinfo string) (model string, cpus int) {
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(name) {
		case "processor":
			cpus++
		case "model name":
			if model == "" {
				model = strings.TrimSpace(value)
			}
		}
	}
	return model, cpus
}

// CountLines counts the lines of text that contain substr.
func CountLines(text, substr string) int {
	n := 0
	for line := range strings.Lines(text) {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// KernelLines returns the lines of a kernel log that contain tag (such as
// "asterisk[1234]"), trimmed.
func KernelLines(log, tag string) []string {
	var lines []string
	for line := range strings.Lines(log) {
		if strings.Contains(line, tag) {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return lines
}

// LastLines returns the last n non-blank lines of text, trimmed.
func LastLines(text string, n int) []string {
	var lines []string
	for line := range strings.Lines(text) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return lines[max(len(lines)-n, 0):]
}

// ParseMachineCPU returns the busy and total CPU time of all cores from
// the contents of /proc/stat (its first line, "cpu  user nice system idle
// iowait irq softirq steal ..."). Idle and iowait are not busy; guest time
// is already inside user, so only the first eight fields are added.
func ParseMachineCPU(stat string) (busy, total time.Duration, err error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("proc stat: first line %q is not the cpu total", line)
	}
	var ticks [8]int64
	for i := range ticks {
		if ticks[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("proc stat: cpu field %d %q: %w", i+1, f[i+1], err)
		}
	}
	var all int64
	for _, t := range ticks {
		all += t
	}
	idle := ticks[3] + ticks[4]
	unit := time.Second / clockTicks
	return time.Duration(all-idle) * unit, time.Duration(all) * unit, nil
}

// MachineCPU reads the busy and total CPU time of all cores so far.
func MachineCPU() (busy, total time.Duration, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("machine cpu time: %w", err)
	}
	return ParseMachineCPU(string(data))
}
