package transfer

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestVoicemailEntryTranscripts plays the stories in
// testdata/voicemail_entry through the voicemail entry machine: each
// "run" starts from an idle entry (code=*8, timeout=3s unless given) and
// feeds it one input a line, written as the input prints itself (and as
// the owner logs it). The expected output gives, for each input, the new
// state (or "ignored") and the commands, in order.
//
// The call has two parties: "user" (extension 102) and "other" (extension
// 101); whoever keys the feature code is the entry's user.
//
// After a deliberate change of behaviour, regenerate the expected output
// with
//
//	go test ./transfer -run TestVoicemailEntryTranscripts -rewrite
//
// and review the diff like code.
func TestVoicemailEntryTranscripts(t *testing.T) {
	runTranscripts(t, "testdata/voicemail_entry", func(t *testing.T, d *datadriven.TestData) string {
		code, timeout := DefaultVoicemailCode, DefaultDigitTimeout
		d.MaybeScanArgs(t, "code", &code)
		if d.HasArg("timeout") {
			var s string
			d.ScanArgs(t, "timeout", &s)
			var err error
			if timeout, err = time.ParseDuration(s); err != nil {
				d.Fatalf(t, "timeout: %v", err)
			}
		}
		return playTranscript(t, d, newVMEntry(code, timeout), parseEntryInput, vmEntry.Step)
	})
}

// transcriptParties are the call's two parties in the transcripts.
var transcriptParties = map[string]party{
	"user":  {channel: "user", exten: "102"},
	"other": {channel: "other", exten: "101"},
}

// parseEntryInput reads an input written as it prints itself.
func parseEntryInput(line string) (entryInput, error) {
	f := strings.Fields(line)
	p := func(name string) (party, error) {
		pt, ok := transcriptParties[name]
		if !ok {
			return party{}, fmt.Errorf("no party %q (user or other)", name)
		}
		return pt, nil
	}
	switch {
	case f[0] == "digit" && (len(f) == 3 || len(f) == 4 && f[3] == "not-talking"):
		by, err := p(f[1])
		if err != nil {
			return nil, err
		}
		other := "other"
		if by.channel == "other" {
			other = "user"
		}
		return digitKeyed{by: by, other: other, digit: f[2], talking: len(f) == 3}, nil
	case f[0] == "digit-timer" && len(f) == 2:
		seq, err := strconv.Atoi(strings.TrimPrefix(f[1], "#"))
		if err != nil {
			return nil, err
		}
		return digitTimerFired{seq: seq}, nil
	case f[0] == "hangup" && len(f) == 2:
		pt, err := p(f[1])
		return partyHungUp{channel: pt.channel}, err
	case f[0] == "replaced" && len(f) == 3:
		return partyReplaced{old: f[1], new: f[2]}, nil
	case f[0] == "left" && len(f) == 2:
		return partyLeft{channel: f[1]}, nil
	case f[0] == "call-ended" && len(f) == 1:
		return callEnded{}, nil
	case f[0] == "transfer" && len(f) == 1:
		return transferTakesOver{}, nil
	case f[0] == "adopted" && len(f) == 4:
		record, err := strconv.Unquote(f[1])
		if err != nil {
			return nil, fmt.Errorf("record: %v", err)
		}
		in := entryAdopted{record: record, held: strings.TrimPrefix(f[2], "held="), userPresent: f[3] != "user-gone"}
		if in.userPresent {
			in.user = strings.TrimPrefix(f[3], "user=")
		}
		return in, nil
	}
	return nil, fmt.Errorf(`want "digit user|other KEY [not-talking]", "digit-timer #N", "hangup user|other", "replaced OLD NEW", "left CH", "call-ended", "transfer" or "adopted \"EXT:DIGITS\" held=CH user=CH|user-gone"`)
}
