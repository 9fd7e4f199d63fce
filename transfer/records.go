package transfer

import (
	"strings"
)

// What transferd records on a channel for a successor, read back in one
// request per channel when it adopts calls. Four reads per channel made
// most of a takeover at 100 calls (REST over the outbound WebSocket is
// served one request at a time: internal/loadtest/ha.md, fourth round).

// callVariable names the call a channel belongs to.
const callVariable = "TRANSFERD_CALL"

// recordedVariables are read together, in this order.
var recordedVariables = []string{callVariable, holdVariable, referVariable, voicemailVariable, extenVariable}

// recordSeparator joins the values: the ASCII unit separator, which none
// of them holds (call ids, "1", URL-encoded REFER records, "<ext>:<digits>",
// extensions).
const recordSeparator = "\x1f"

// recordsFunction reads every recorded variable at once: EVAL substitutes
// them, an unset one as empty (a plain read of an unset variable is a 404,
// and GET /channels/{id}/variables fails whole on one; it also needs
// 22.10). EVAL is in func_strings, which every Asterisk loads.
var recordsFunction = func() string {
	refs := make([]string, len(recordedVariables))
	for i, name := range recordedVariables {
		refs[i] = "${" + name + "}"
	}
	return "EVAL(" + strings.Join(refs, recordSeparator) + ")"
}()

// channelRecords are a channel's recorded variables.
type channelRecords struct {
	call, hold, refer, voicemail, exten string
}

// parseRecords splits recordsFunction's value; false when it is not one
// (a field count that does not match).
func parseRecords(value string) (channelRecords, bool) {
	f := strings.Split(value, recordSeparator)
	if len(f) != len(recordedVariables) {
		return channelRecords{}, false
	}
	return channelRecords{call: f[0], hold: f[1], refer: f[2], voicemail: f[3], exten: f[4]}, true
}
