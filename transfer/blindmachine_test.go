package transfer

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestBlindTransferTranscripts plays the stories in
// testdata/blind_transfer through the blind transfer's machine
// (blindmachine.go): each "run" starts from a call with no blind transfer
// (the target's voicemail when it fails, or "run recall" for
// TransferNoAnswer=recall) and feeds it one input a line, written as the
// input prints itself (and as the owner logs it). The expected output
// gives, for each input, the new state (or "ignored") and the commands,
// in order; a command with a result is answered by the next line.
//
// The channels are named for their parties: "caller" (the transferee,
// extension 101), "transferer" (102), "target" (103), and "recall-1" for
// the transferer's phone rung back. A REFER's story starts with "refer";
// a transfer that gets to its ringing another way with "target-ringing".
//
// After a deliberate change of behaviour, regenerate the expected output
// with
//
//	go test ./transfer -run TestBlindTransferTranscripts -rewrite
//
// and review the diff like code.
func TestBlindTransferTranscripts(t *testing.T) {
	runTranscripts(t, "testdata/blind_transfer", func(t *testing.T, d *datadriven.TestData) string {
		return playTranscript(t, d, newBlindMachine(blindPolicy{recallOnNoAnswer: d.HasArg("recall"), voicemailCode: "*8"}), parseBlindInput, blindMachine.Step)
	})
}

// parseBlindInput reads an input written as it prints itself.
func parseBlindInput(line string) (blindInput, error) {
	f := strings.Fields(line)
	arity := func(n int) error {
		if len(f) != n {
			return fmt.Errorf("%s takes %d words", f[0], n-1)
		}
		return nil
	}
	switch f[0] {
	case "refer":
		byAsterisk := len(f) == 5 && f[4] == "by-asterisk"
		if byAsterisk {
			f = f[:4]
		}
		if err := arity(4); err != nil {
			return nil, err
		}
		from, _ := strings.CutPrefix(f[1], "from=")
		ch, exten, _ := strings.Cut(from, "/")
		transferee, _ := strings.CutPrefix(f[2], "transferee=")
		dest, err := strconv.Unquote(strings.TrimPrefix(f[3], "dest="))
		if err != nil {
			return nil, err
		}
		return blindReferred{transferer: party{channel: ch, exten: exten}, transferee: transferee, destination: dest,
			byAsterisk: byAsterisk}, nil
	case "recall-requested":
		_, kv, _, err := readWords(line)
		return recallRequested{transferee: kv["transferee"], transferer: kv["transferer"], mailbox: kv["mailbox"]}, err
	case "mailbox-ok":
		if len(f) == 3 {
			dial, ok := strings.CutPrefix(f[2], "elsewhere=")
			if !ok {
				return nil, fmt.Errorf("want mailbox-ok MAILBOX [elsewhere=DIAL]")
			}
			return mailboxChecked{mailbox: f[1], dial: dial}, nil
		}
		if err := arity(2); err != nil {
			return nil, err
		}
		return mailboxChecked{mailbox: f[1]}, nil
	case "mailbox-elsewhere":
		_, kv, flags, err := readWords(line)
		return mailboxElsewhere{transferee: kv["transferee"], transferer: kv["transferer"], mailbox: kv["mailbox"],
			dial: kv["dial"], fallback: kv["fallback"], held: flags["held"]}, err
	case "mailbox-refused":
		reason, err := strconv.Unquote(strings.TrimSpace(strings.TrimPrefix(line, "mailbox-refused")))
		return mailboxChecked{reason: reason}, err
	case "dialled":
		if err := arity(3); err != nil {
			return nil, err
		}
		dest, err := strconv.Unquote(strings.TrimPrefix(f[2], "dest="))
		if err != nil {
			return nil, err
		}
		return targetDialled{target: f[1], destination: dest}, nil
	case "not-dialled":
		if len(f) < 3 || f[1] != "refused" && f[1] != "unavailable" {
			return nil, fmt.Errorf(`want not-dialled refused|unavailable "reason"`)
		}
		reason, err := strconv.Unquote(strings.TrimSpace(strings.TrimPrefix(line, "not-dialled "+f[1])))
		if err != nil {
			return nil, err
		}
		return targetNotDialled{refused: f[1] == "refused", reason: reason}, nil
	case "target-ringing":
		var in targetRinging
		for _, w := range f[1:] {
			k, v, _ := strings.Cut(w, "=")
			if strings.HasPrefix(v, `"`) {
				var err error
				if v, err = strconv.Unquote(v); err != nil {
					return nil, fmt.Errorf("%s: %v", k, err)
				}
			}
			switch k {
			case "transferee":
				in.transferee = v
			case "target":
				in.target = v
			case "dest":
				in.destination = v
			case "transferer":
				in.transferer = v
			case "ringback":
				in.ringback = true
			case "held":
				in.held = true
			case "recall":
				in.recall = true
			default:
				return nil, fmt.Errorf("unknown word %q", w)
			}
		}
		return in, nil
	case "ringback-started", "ringback-failed":
		return ringbackStarted{ok: f[0] == "ringback-started"}, arity(1)
	case "answered":
		if err := arity(2); err != nil {
			return nil, err
		}
		return targetAnswered{channel: f[1]}, nil
	case "dial-failed":
		if err := arity(3); err != nil {
			return nil, err
		}
		return targetFailed{channel: f[1], status: f[2]}, nil
	case "hangup":
		if len(f) < 3 || len(f) > 4 || len(f) == 4 && f[3] != "answered" {
			return nil, fmt.Errorf("want hangup CHANNEL cause=N [answered]")
		}
		cause, err := strconv.Atoi(strings.TrimPrefix(f[2], "cause="))
		if err != nil {
			return nil, err
		}
		return legHungUp{channel: f[1], cause: cause, answered: len(f) == 4}, nil
	case "joined", "join-failed":
		if err := arity(2); err != nil {
			return nil, err
		}
		return joined{channel: f[1], ok: f[0] == "joined"}, nil
	case "recall-dialled":
		if err := arity(2); err != nil {
			return nil, err
		}
		return recallDialled{channel: f[1]}, nil
	case "recall-failed":
		reason, err := strconv.Unquote(strings.TrimSpace(strings.TrimPrefix(line, "recall-failed")))
		if err != nil {
			return nil, err
		}
		return recallDialled{reason: reason}, nil
	case "replaced":
		if err := arity(3); err != nil {
			return nil, err
		}
		return partyReplaced{old: f[1], new: f[2]}, nil
	case "call-ended":
		return callEnded{}, arity(1)
	}
	return nil, fmt.Errorf("unknown input %q", f[0])
}
