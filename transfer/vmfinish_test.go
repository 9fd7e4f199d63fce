package transfer

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestVoicemailFinishTranscripts plays testdata/voicemail_finish through
// the finishing of a voicemail entry (vmfinish.go): the held party
// "caller" (101), the user "user" (102); a command with a result is
// answered by the next line.
//
// Regenerate after a deliberate change with
//
//	go test ./transfer -run TestVoicemailFinishTranscripts -rewrite
func TestVoicemailFinishTranscripts(t *testing.T) {
	runTranscripts(t, "testdata/voicemail_finish", func(t *testing.T, d *datadriven.TestData) string {
		return playTranscript(t, d, vmFinish{}, parseFinishInput, vmFinish.Step)
	})
}

// parseFinishInput reads an input written as it prints itself.
func parseFinishInput(line string) (finishInput, error) {
	name, kv, flags, err := readWords(line)
	if err != nil {
		return nil, err
	}
	_, rest, _ := strings.Cut(line, " ")
	switch name {
	case "finish":
		ch, exten, _ := strings.Cut(kv["user"], "/")
		return finishStarted{entry: finishEntry{held: kv["held"], mailbox: kv["mailbox"], user: party{channel: ch, exten: exten},
			userPresent: flags["user-present"]}, fallback: kv["fallback"]}, nil
	case "mailbox-ok":
		mailbox, dial, _ := strings.Cut(rest, " elsewhere=")
		return entryMailboxChecked{mailbox: mailbox, dial: dial}, nil
	case "mailbox-refused":
		reason, err := strconv.Unquote(rest)
		return entryMailboxChecked{reason: reason}, err
	case "joined", "join-failed":
		return joined{channel: rest, ok: name == "joined"}, nil
	}
	return nil, strconv.ErrSyntax
}
