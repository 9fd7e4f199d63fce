package transfer

import (
	"strings"
	"testing"
)

// evalLike substitutes ${NAME} in fn's argument as Asterisk's EVAL does,
// unset variables as empty.
func evalLike(fn string, vars map[string]string) string {
	arg := strings.TrimSuffix(strings.TrimPrefix(fn, "EVAL("), ")")
	for _, name := range recordedVariables {
		arg = strings.ReplaceAll(arg, "${"+name+"}", vars[name])
	}
	return arg
}

func TestRecordsReadInOneFunctionComeBackInTheirFields(t *testing.T) {
	vars := map[string]string{
		callVariable: "c42", holdVariable: "1", referVariable: "to=103&transferee=x",
		voicemailVariable: "102:12", extenVariable: "104", dialledVariable: "1",
	}
	got, ok := parseRecords(evalLike(recordsFunction, vars))
	want := channelRecords{call: "c42", hold: "1", refer: "to=103&transferee=x", voicemail: "102:12", exten: "104", dialled: "1"}
	if !ok || got != want {
		t.Errorf("records = %+v, %v; want %+v", got, ok, want)
	}
	got, ok = parseRecords(evalLike(recordsFunction, nil))
	if !ok || got != (channelRecords{}) {
		t.Errorf("nothing recorded: records = %+v, %v; want empty, true", got, ok)
	}
}

func TestParseRecordsRefusesAValueOfAnotherShape(t *testing.T) {
	for _, value := range []string{"", "c42", strings.Repeat(recordSeparator, len(recordedVariables))} {
		if got, ok := parseRecords(value); ok {
			t.Errorf("parseRecords(%q) = %+v, true; want false", value, got)
		}
	}
}
