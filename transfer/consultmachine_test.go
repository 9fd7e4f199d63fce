package transfer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestAPITransferTranscripts plays the stories in testdata/api_transfer
// through the API's transfer machine (consultmachine.go), the way
// TestBlindTransferTranscripts plays the blind transfer's: each "run"
// starts from a call with no transfer through the API and feeds it one
// input a line, written as the input prints itself (and as the owner logs
// it); a command with a result is answered by the next line.
//
// The channels are named for their parties: "caller" (101, the party the
// API transfers, held), "receptionist" (102, the call's other party, the
// transferer), "target" (103, the destination); "bridge1" is the call's
// bridge.
//
// Regenerate the expected output after a deliberate change with
//
//	go test ./transfer -run TestAPITransferTranscripts -rewrite
//
// and review the diff like code.
func TestAPITransferTranscripts(t *testing.T) {
	runTranscripts(t, "testdata/api_transfer", func(t *testing.T, d *datadriven.TestData) string {
		return playTranscript(t, d, consultMachine{}, parseConsultInput, consultMachine.Step)
	})
}

// parseConsultInput reads an input written as it prints itself.
func parseConsultInput(line string) (consultInput, error) {
	name, kv, _, err := readWords(line)
	if err != nil {
		return nil, err
	}
	_, rest, _ := strings.Cut(line, " ")
	quotedErr := func() (error, error) {
		s, err := strconv.Unquote(rest)
		return errors.New(s), err
	}
	partyOf := func(key string) party {
		ch, exten, _ := strings.Cut(kv[key], "/")
		return party{channel: ch, exten: exten}
	}
	switch name {
	case "api-transfer":
		return transferAsked{kind: Kind(kv["kind"]), held: partyOf("held"), transferer: partyOf("transferer"),
			destination: kv["dest"], bridge: kv["bridge"]}, nil
	case "api-complete":
		return completeAsked{}, nil
	case "api-cancel":
		return cancelAsked{}, nil
	case "destination-not-dialled":
		e, err := quotedErr()
		return destinationNotDialled{err: e}, err
	case "sent-to-mailbox":
		return sentToMailbox{}, nil
	case "mailbox-refused":
		e, err := quotedErr()
		return sentToMailbox{err: e}, err
	}
	// The inputs the blind transfer's machine takes too.
	in, err := parseBlindInput(line)
	if err != nil {
		return nil, err
	}
	c, ok := in.(consultInput)
	if !ok {
		return nil, fmt.Errorf("%q is not an input of the API's transfer", name)
	}
	return c, nil
}
