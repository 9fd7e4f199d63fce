package transfer

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestBasicCallTranscripts plays the stories in testdata/basic_call
// through the basic call's machine (basicmachine.go): each "run" starts
// from no call ("run voicemail" for NoAnswer=voicemail) and feeds it one
// input a line, written as the input prints itself; a command with a
// result is answered by the next line. The channels are "caller" (101)
// and "callee" (102).
//
// Regenerate after a deliberate change with
//
//	go test ./transfer -run TestBasicCallTranscripts -rewrite
func TestBasicCallTranscripts(t *testing.T) {
	runTranscripts(t, "testdata/basic_call", func(t *testing.T, d *datadriven.TestData) string {
		return playTranscript(t, d, newBasicMachine(d.HasArg("voicemail")), parseBasicInput, basicMachine.Step)
	})
}

// parseBasicInput reads an input written as it prints itself.
func parseBasicInput(line string) (basicInput, error) {
	name, kv, flags, err := readWords(line)
	if err != nil {
		return nil, err
	}
	_, rest, _ := strings.Cut(line, " ")
	quoted := func() (string, error) { return strconv.Unquote(rest) }
	switch name {
	case "arrived":
		ch, exten, _ := strings.Cut(kv["caller"], "/")
		return callerArrived{caller: party{channel: ch, exten: exten}, dialled: kv["dialled"],
			clearTimeout: flags["clear-timeout"], core: flags["core"],
			callerPlain: flags["caller-plain"], dialledPlain: flags["dialled-plain"]}, nil
	case "ringing-adopted":
		return ringingAdopted{caller: kv["caller"], callee: kv["callee"], dialled: kv["dialled"],
			calleeInBridge: flags["callee-in-bridge"]}, nil
	case "routed":
		return calleeRouted{dialString: rest}, nil
	case "not-routed":
		reason, err := quoted()
		return calleeRouted{reason: reason}, err
	case "bridge-created", "bridge-not-created":
		return bridgeCreated{ok: name == "bridge-created"}, nil
	case "callee-created":
		return calleeDialled{channel: rest}, nil
	case "callee-not-created":
		reason, err := quoted()
		return calleeDialled{reason: reason}, err
	case "endpoint-exists", "no-such-endpoint":
		return endpointChecked{exists: name == "endpoint-exists"}, nil
	case "in-stasis":
		return calleeInStasis{channel: rest}, nil
	case "callee-dialled", "callee-dial-failed":
		return calleeRang{ok: name == "callee-dialled"}, nil
	case "callee-answered":
		return calleeAnswered{channel: rest}, nil
	case "caller-answered", "caller-answer-failed":
		return callerAnswered{ok: name == "caller-answered"}, nil
	case "callee-failed":
		return calleeFailed{status: rest}, nil
	}
	in, err := parseBlindInput(line)
	if err != nil {
		return nil, err
	}
	b, ok := in.(basicInput)
	if !ok {
		return nil, fmt.Errorf("%q is not a basic call's input", name)
	}
	return b, nil
}
