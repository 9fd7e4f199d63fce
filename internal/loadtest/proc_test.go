package main

import (
	"testing"
	"time"
)

func TestParseMachineCPUCountsIdleAndIOWaitAsNotBusy(t *testing.T) {
	stat := "cpu  1000 50 400 7000 100 10 40 0 300 0\ncpu0 500 25 200 3500 50 5 20 0 150 0\n"
	busy, total, err := ParseMachineCPU(stat)
	// busy: user+nice+system+irq+softirq+steal = 1500 ticks; total 8600
	// (guest, the ninth field, is inside user already).
	if err != nil || busy != 15*time.Second || total != 86*time.Second {
		t.Errorf("ParseMachineCPU = %v, %v, %v; want 15s, 1m26s", busy, total, err)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu  1 2 3\n", "cpu  1 2 x 4 5 6 7 8\n"} {
		if _, _, err := ParseMachineCPU(bad); err == nil {
			t.Errorf("ParseMachineCPU(%q): no error", bad)
		}
	}
}
