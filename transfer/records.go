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
var recordedVariables = []string{callVariable, holdVariable, referVariable, voicemailVariable, extenVariable, dialledVariable}

// recordSeparator joins the values: the ASCII unit separator, which none
// of them holds (call ids, "1", URL-encoded REFER records, "<ext>:<digits>",
// extensions).
const recordSeparator = "\x1f"

// recordsFunction reads every recorded variable at once: EVAL substitutes
// them, an unset one as empty. Not GET /channels/{id}/variables (22.10+):
// one unset variable fails it whole (404). Not ari.conf's channelvars in
// the channel list: through 22.11 setting a variable refreshes the
// listed values only when manager.conf has channelvars too (stasis_channels.c,
// ast_channel_publish_varset), so they can be stale. EVAL is in
// func_strings, which Asterisk loads by default.
var recordsFunction = func() string {
	refs := make([]string, len(recordedVariables))
	for i, name := range recordedVariables {
		refs[i] = "${" + name + "}"
	}
	return "EVAL(" + strings.Join(refs, recordSeparator) + ")"
}()

// channelRecords are a channel's recorded variables.
type channelRecords struct {
	call, hold, refer, voicemail, exten, dialled string
}

// parseRecords splits recordsFunction's value; false when it is not one
// (a field count that does not match).
func parseRecords(value string) (channelRecords, bool) {
	f := strings.Split(value, recordSeparator)
	if len(f) != len(recordedVariables) {
		return channelRecords{}, false
	}
	return channelRecords{call: f[0], hold: f[1], refer: f[2], voicemail: f[3], exten: f[4], dialled: f[5]}, true
}
