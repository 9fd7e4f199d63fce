package transfer

import (
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestAdoptionTranscripts plays what a successor finds of a call in
// Asterisk (testdata/adoption: one "found" channel a line, written as it
// prints itself: members of the call's bridge first) through
// planAdoption, and shows how the call carries on. Channels: "caller"
// (101), "callee" (102), "target" (103), "transferer" (a phone's leg
// beside a pair).
//
// Regenerate after a deliberate change with
//
//	go test ./transfer -run TestAdoptionTranscripts -rewrite
func TestAdoptionTranscripts(t *testing.T) {
	runTranscripts(t, "testdata/adoption", func(t *testing.T, d *datadriven.TestData) string {
		var found []foundLeg
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			name, kv, flags, err := readWords(line)
			if err != nil || name != "found" {
				d.Fatalf(t, "%q: want found CHANNEL exten=... [flags] (%v)", line, err)
			}
			l := foundLeg{id: kv[""], exten: kv["exten"], keyed: kv["keyed"], created: flags["created"],
				inBridge: flags["in-bridge"], answered: flags["answered"], down: flags["down"], refer: flags["refer"], phone: flags["phone"]}
			if l.String() != line {
				d.Fatalf(t, "%q prints itself as %q", line, l)
			}
			found = append(found, l)
		}
		return planAdoption(found).String() + "\n"
	})
}
