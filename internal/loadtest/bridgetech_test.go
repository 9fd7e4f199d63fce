package main

import (
	"fmt"
	"strings"
	"testing"
)

// bridgeShowAll is what Asterisk 22's "bridge show all" prints (format of
// main/bridge.c): a Dial bridge, a transferd bridge with a name holding a
// space, a holding bridge with no name.
const bridgeShowAll = `Bridge-ID                            Name                                 Chans Type            Technology      Duration
0b6f3c1e-7d1a-4a57-9d59-3f4c1e5c2a11 <unknown>                                2 basic           native_rtp      00:00:41
transferd-br-01JEXAMPLE              transferd call 01JEXAMPLE                2 stasis          simple_bridge   00:01:02
5e2c1c9a-0f7e-4f1b-a1cb-0d8e4b9a7f20 <unknown>                                2 basic           native_rtp      00:00:03
transferd-hold-01JEXAMPLE            <unknown>                                1 stasis          holding_bridge  00:00:01
`

func TestParseBridgeTechnologiesCountsEachTechnology(t *testing.T) {
	got := ParseBridgeTechnologies(bridgeShowAll)
	want := map[string]int{"native_rtp": 2, "simple_bridge": 1, "holding_bridge": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ParseBridgeTechnologies = %v, want %v", got, want)
	}
	if got := FormatTechnologies(got); got != "native_rtp 2, holding_bridge 1, simple_bridge 1" {
		t.Errorf("FormatTechnologies = %q", got)
	}
	header := strings.SplitN(bridgeShowAll, "\n", 2)[0] + "\n"
	if got := FormatTechnologies(ParseBridgeTechnologies(header)); got != "none" {
		t.Errorf("no bridge: %q, want none", got)
	}
}
