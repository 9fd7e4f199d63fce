package transfer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestHandOverTranscripts plays the requests in testdata/hand_over through
// the consultation call's decision (decideHandOver): one request a line,
// written as it prints itself, each answered by the verdict and reason.
//
// Regenerate after a deliberate change with
//
//	go test ./transfer -run TestHandOverTranscripts -rewrite
func TestHandOverTranscripts(t *testing.T) {
	states := map[string]callState{}
	for s := stateArrived; s <= stateEnded; s++ {
		states[s.String()] = s
	}
	runTranscripts(t, "testdata/hand_over", func(t *testing.T, d *datadriven.TestData) string {
		var out strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			name, kv, flags, err := readWords(line)
			state, known := states[kv["state"]]
			if err != nil || name != "ask" || !known {
				d.Fatalf(t, "%q: want ask state=STATE replaced=... (%v)", line, err)
			}
			ask := handOverAsk{state: state, replaced: kv["replaced"], consultExten: kv["consult-exten"],
				transfererExten: kv["transferer"], consultLive: flags["consult-live"], colleagueLive: flags["colleague-live"],
				consultUnanswered: flags["consult-unanswered"],
				end:               flags["end"]}
			if ask.String() != line {
				d.Fatalf(t, "%q prints itself as %q", line, ask)
			}
			verdict, reason := decideHandOver(ask)
			fmt.Fprintf(&out, "%s -> %s", ask, verdict)
			if reason != "" {
				fmt.Fprintf(&out, " %q", reason)
			}
			out.WriteString("\n")
		}
		return out.String()
	})
}
