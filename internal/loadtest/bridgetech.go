package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ParseBridgeTechnologies counts the bridges of each technology
// (native_rtp, simple_bridge, softmix, holding_bridge, ...) in the output
// of Asterisk's CLI "bridge show all". Its rows are Bridge-ID, Name,
// Chans, Type, Technology and Duration (main/bridge.c); a name may hold
// spaces, so the technology is taken as the field before the duration
// (hh:mm:ss), counted from the end of the row.
func ParseBridgeTechnologies(out string) map[string]int {
	counts := map[string]int{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 5 || f[0] == "Bridge-ID" || strings.Count(f[len(f)-1], ":") != 2 {
			continue
		}
		counts[f[len(f)-2]]++
	}
	return counts
}

// FormatTechnologies renders counts as "native_rtp 118, simple_bridge 2"
// (most first, then by name), "none" for no bridge.
func FormatTechnologies(counts map[string]int) string {
	if len(counts) == 0 {
		return "none"
	}
	names := slices.Sorted(maps.Keys(counts))
	slices.SortStableFunc(names, func(a, b string) int { return counts[b] - counts[a] })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, counts[n])
	}
	return strings.Join(parts, ", ")
}
