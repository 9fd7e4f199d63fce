package transfer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// runTranscripts runs every transcript file under dir: each case is a
// "run" (with its arguments), and play returns its output.
func runTranscripts(t *testing.T, dir string, play func(t *testing.T, d *datadriven.TestData) string) {
	datadriven.Walk(t, dir, func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "run" {
				d.Fatalf(t, "unknown command %q (want run)", d.Cmd)
			}
			return play(t, d)
		})
	})
}

// machineState is a machine's state as transcripts show it.
type machineState interface {
	comparable
	fmt.Stringer
}

// playTranscript feeds a machine the inputs of one transcript case, one a
// line, written as each input prints itself (and as the owner logs it),
// and returns, for each input, the new state (or "ignored") and the
// commands, in order: what the case's expected output holds.
func playTranscript[M machineState, I, C fmt.Stringer](t *testing.T, d *datadriven.TestData, m M,
	parse func(string) (I, error), step func(M, I) (M, []C)) string {
	var out strings.Builder
	for _, line := range strings.Split(d.Input, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		in, err := parse(line)
		if err != nil {
			d.Fatalf(t, "%q: %v", line, err)
		}
		if in.String() != line {
			d.Fatalf(t, "%q prints itself as %q: keep the transcript and the log in the same words", line, in)
		}
		next, cmds := step(m, in)
		if next == m && len(cmds) == 0 {
			fmt.Fprintf(&out, "%s -> ignored\n", in)
			continue
		}
		fmt.Fprintf(&out, "%s -> %s\n", in, next)
		for _, cmd := range cmds {
			fmt.Fprintf(&out, "  %s\n", cmd)
		}
		m = next
	}
	return out.String()
}
