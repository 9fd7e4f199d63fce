package transfer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestTalkingTranscripts plays testdata/talking through a talking call's
// two decisions: a party hanging up (decideTalkingHangup) and a phone
// holding or resuming (decideHold); one event a line, written as it
// prints itself, each answered by the verdict or the commands.
//
// Regenerate after a deliberate change with
//
//	go test ./transfer -run TestTalkingTranscripts -rewrite
func TestTalkingTranscripts(t *testing.T) {
	runTranscripts(t, "testdata/talking", func(t *testing.T, d *datadriven.TestData) string {
		var out strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			name, kv, flags, err := readWords(line)
			if err != nil {
				d.Fatalf(t, "%q: %v", line, err)
			}
			var in fmt.Stringer
			var result string
			switch name {
			case "party-left":
				p := talkingHangup{channel: kv[""], consultation: kv["consultation"], holding: flags["holding"],
					otherLive: flags["other-live"], transferBusy: flags["transfer-busy"], recall: flags["recall"]}
				in, result = p, decideTalkingHangup(p).String()
			case "hold", "resume":
				h := holdSeen{channel: kv[""], onHold: name == "hold", other: kv["other"], musicForOther: flags["music-for-other"]}
				var cmds []string
				for _, c := range decideHold(h) {
					cmds = append(cmds, c.String())
				}
				in, result = h, strings.Join(cmds, "; ")
			default:
				d.Fatalf(t, "%q: want party-left, hold or resume", line)
			}
			if in.String() != line {
				d.Fatalf(t, "%q prints itself as %q", line, in)
			}
			fmt.Fprintf(&out, "%s -> %s\n", in, result)
		}
		return out.String()
	})
}
