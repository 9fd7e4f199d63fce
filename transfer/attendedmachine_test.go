package transfer

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestAttendedTransferTranscripts plays the stories in
// testdata/attended_transfer through the attended transfer's machine
// (attendedmachine.go), the way TestBlindTransferTranscripts plays the
// blind transfer's: each "run" starts from a call with no attended
// transfer and feeds it one input a line, written as the input prints
// itself (and as the owner logs it); a command with a result is answered
// by the next line.
//
// The channels are named for their parties: "caller" (the transferee,
// extension 101), "transferer" (102, its first leg; "consult" its
// consultation leg), "colleague" (103); "bridge1" is the call's bridge,
// "bridge2" the consultation's, "call-2" the consultation call.
//
// Regenerate the expected output after a deliberate change with
//
//	go test ./transfer -run TestAttendedTransferTranscripts -rewrite
//
// and review the diff like code.
func TestAttendedTransferTranscripts(t *testing.T) {
	runTranscripts(t, "testdata/attended_transfer", func(t *testing.T, d *datadriven.TestData) string {
		return playTranscript(t, d, attendedMachine{}, parseAttendedInput, attendedMachine.Step)
	})
}

// parseAttendedInput reads an input written as it prints itself (words:
// a name, key=value words, flags).
func parseAttendedInput(line string) (attendedInput, error) {
	name, kv, flags, err := readWords(line)
	if err != nil {
		return nil, err
	}
	partyOf := func(key string) party {
		ch, exten, _ := strings.Cut(kv[key], "/")
		return party{channel: ch, exten: exten}
	}
	switch name {
	case "attended-refer":
		return attendedReferred{transferer: partyOf("from"), transferee: kv["transferee"], bridge: kv["bridge"],
			consultID: kv["replaces"], consultation: kv["consultation"], byAsterisk: flags["by-asterisk"]}, nil
	case "transferer-left-holding":
		return transfererLeftHolding{transferer: partyOf("from"), transferee: kv["transferee"], bridge: kv["bridge"],
			consultation: kv["consultation"], recall: flags["recall"]}, nil
	case "hand-over-asked", "hand-over-not-asked":
		return handOverAsked{ok: name == "hand-over-asked"}, nil
	case "hand-over-refused":
		return handOverRefused{reason: kv["reason"], unavailable: flags["unavailable"]}, nil
	case "merged":
		return consultationMerged{consultation: kv["consultation"], bridge: kv["bridge"], consult: kv["consult"],
			colleague: partyOf("colleague"), talking: flags["talking"], consultLive: flags["consult-live"],
			consultUnanswered: flags["consult-unanswered"], colleagueInBridge: flags["colleague-in-bridge"],
			canComplete: flags["can-complete"]}, nil
	case "completed-at-once":
		return completedAtOnce{joined: true, colleagueLive: true}, nil
	case "colleague-not-joined":
		return completedAtOnce{colleagueLive: flags["colleague-live"]}, nil
	case "destroyed":
		return consultDestroyed{channel: kv[""]}, nil
	case "tell-due":
		return tellDue{consult: kv[""]}, nil
	case "tell-now":
		return tellNow{}, nil
	}
	// The inputs the blind transfer's machine takes too.
	in, err := parseBlindInput(line)
	if err != nil {
		return nil, err
	}
	a, ok := in.(attendedInput)
	if !ok {
		return nil, fmt.Errorf("%q is not an attended transfer's input", name)
	}
	return a, nil
}

// readWords splits "name key=value key="quoted value" flag" into its
// name, values and flags (words without "="); the first flag is also
// kv[""], for inputs that name one channel ("destroyed consult").
func readWords(line string) (name string, kv map[string]string, flags map[string]bool, err error) {
	kv, flags = map[string]string{}, map[string]bool{}
	rest := strings.TrimSpace(line)
	name, rest, _ = strings.Cut(rest, " ")
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		k, v, isKV := strings.Cut(rest, "=")
		if !isKV || strings.Contains(k, " ") {
			var w string
			w, rest, _ = strings.Cut(rest, " ")
			flags[w] = true
			if _, seen := kv[""]; !seen {
				kv[""] = w
			}
			continue
		}
		if strings.HasPrefix(v, `"`) {
			q, err := strconv.QuotedPrefix(v)
			if err != nil {
				return "", nil, nil, fmt.Errorf("%s: %v", k, err)
			}
			kv[k], _ = strconv.Unquote(q)
			rest = v[len(q):]
			continue
		}
		kv[k], rest, _ = strings.Cut(v, " ")
	}
	return name, kv, flags, nil
}
