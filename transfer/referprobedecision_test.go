package transfer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestReferEchoTranscripts plays the echoes in testdata/refer_echo (a
// ChannelTransfer with state channel_progress, as the call sees it)
// through decideReferEcho: one a line, written as it prints itself, each
// answered by the verdict and reason.
//
// Regenerate after a deliberate change with
//
//	go test ./transfer -run TestReferEchoTranscripts -rewrite
func TestReferEchoTranscripts(t *testing.T) {
	states := map[string]callState{}
	for s := stateArrived; s <= stateEnded; s++ {
		states[s.String()] = s
	}
	runTranscripts(t, "testdata/refer_echo", func(t *testing.T, d *datadriven.TestData) string {
		var out strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			name, kv, flags, err := readWords(line)
			state, known := states[kv["state"]]
			if err != nil || name != "echo" || !known {
				d.Fatalf(t, "%q: want echo state=STATE [probed] [party] [transferring] (%v)", line, err)
			}
			e := referEcho{state: state, probed: flags["probed"], party: flags["party"], transferring: flags["transferring"]}
			if e.String() != line {
				d.Fatalf(t, "%q prints itself as %q", line, e)
			}
			verdict, reason := decideReferEcho(e)
			fmt.Fprintf(&out, "%s -> %s", e, verdict)
			if reason != "" {
				fmt.Fprintf(&out, " %q", reason)
			}
			out.WriteString("\n")
		}
		return out.String()
	})
}

// TestProbeAfterReconnectTranscripts plays a call's parties, as the call
// sees them when the event stream comes back (testdata/refer_probe: "run
// state=STATE [transferring]", then one party a line), through
// probeAfterReconnect, and shows which are probed.
//
// Regenerate after a deliberate change with
//
//	go test ./transfer -run TestProbeAfterReconnectTranscripts -rewrite
func TestProbeAfterReconnectTranscripts(t *testing.T) {
	states := map[string]callState{}
	for s := stateArrived; s <= stateEnded; s++ {
		states[s.String()] = s
	}
	runTranscripts(t, "testdata/refer_probe", func(t *testing.T, d *datadriven.TestData) string {
		var stateName string
		d.ScanArgs(t, "state", &stateName)
		state, known := states[stateName]
		if !known {
			d.Fatalf(t, "state %q", stateName)
		}
		var parties []resumedParty
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			name, kv, flags, err := readWords(line)
			if err != nil || name != "party" {
				d.Fatalf(t, "%q: want party ID [live] [phone] [refer-open] (%v)", line, err)
			}
			p := resumedParty{id: kv[""], live: flags["live"], phone: flags["phone"], referOpen: flags["refer-open"]}
			if p.String() != line {
				d.Fatalf(t, "%q prints itself as %q", line, p)
			}
			parties = append(parties, p)
		}
		ids := probeAfterReconnect(state, d.HasArg("transferring"), parties)
		if len(ids) == 0 {
			return "probe nobody\n"
		}
		return "probe " + strings.Join(ids, ",") + "\n"
	})
}
