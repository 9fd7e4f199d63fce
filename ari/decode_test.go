package ari

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// decodeSeeds are Asterisk 22's frames (every shipped event type when the
// swagger files are there, compact and pretty-printed), and the tricky
// frames of TestDecodeEventFollowsEncodingJSONsRules.
func decodeSeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{stasisStartFrame, channelTransferFrame, dialFrame}
	for _, tt := range trickyFrames {
		seeds = append(seeds, []byte(tt.frame))
	}
	if models, err := loadShippedModels(specDir(tb)); err == nil {
		for _, name := range shippedMessageNames(models) {
			frame := exampleFrame(tb, models, name)
			frame["application"] = "transferd"
			frame["asterisk_id"] = "00:11:22:33:44:55"
			seeds = append(seeds, mustJSON(tb, frame))
			pretty, _ := json.MarshalIndent(frame, "", "\t")
			seeds = append(seeds, pretty)
		}
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, channelTransferFrame, "", "  "); err == nil {
		seeds = append(seeds, indented.Bytes())
	}
	return seeds
}

// trickyFrames pin down what encoding/json does with the unusual (rule,
// checked on encoding/json's result; nil when encoding/json fails).
// DecodeEvent must do the same with each.
var trickyFrames = []struct {
	name  string
	frame string
	rule  func(ev Event) bool
}{
	// null
	{"null leaves a string as it is", `{"type":"Dial","dialstatus":"BUSY","dialstatus":null}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }},
	{"null leaves an int as it is", `{"type":"ChannelDestroyed","cause":16,"cause":null}`,
		func(ev Event) bool { return ev.(*ChannelDestroyed).Cause == 16 }},
	{"null leaves a bool as it is", `{"type":"ChannelHangupRequest","soft":true,"soft":null}`,
		func(ev Event) bool { return ev.(*ChannelHangupRequest).Soft }},
	{"null leaves a struct as it is", `{"type":"Dial","peer":{"id":"a"},"peer":null}`,
		func(ev Event) bool { return ev.(*Dial).Peer.ID == "a" }},
	{"null makes a pointer nil", `{"type":"Dial","caller":{"id":"a"},"caller":null}`,
		func(ev Event) bool { return ev.(*Dial).Caller == nil }},
	{"null makes a slice nil", `{"type":"StasisStart","args":["a"],"args":null}`,
		func(ev Event) bool { return ev.(*StasisStart).Args == nil }},
	{"null makes a map nil", `{"type":"StasisEnd","channel":{"channelvars":{"a":"1"},"channelvars":null}}`,
		func(ev Event) bool { return ev.(*StasisEnd).Channel.ChannelVars == nil }},
	{"null into a RawMessage is the text null", `{"type":"ChannelUserevent","userevent":null}`,
		func(ev Event) bool { return string(ev.(*ChannelUserevent).Userevent) == "null" }},
	{"a null map value is the empty string", `{"type":"StasisEnd","channel":{"channelvars":{"a":null}}}`,
		func(ev Event) bool { v, ok := ev.(*StasisEnd).Channel.ChannelVars["a"]; return ok && v == "" }},
	{"a null string element is the empty string", `{"type":"StasisStart","args":["a",null]}`,
		func(ev Event) bool { return slices.Equal(ev.(*StasisStart).Args, []string{"a", ""}) }},
	{"a null object element is a zero one", `{"type":"ChannelTransfer","refer_to":{"requested_destination":{"additional_protocol_params":[null,{"parameter_name":"n"}]}}}`,
		func(ev Event) bool {
			p := ev.(*ChannelTransfer).ReferTo.RequestedDestination.AdditionalProtocolParams
			return len(p) == 2 && p[0] == AdditionalParam{} && p[1].ParameterName == "n"
		}},

	// empty containers, raw values
	{"[] is an empty slice, not nil", `{"type":"StasisStart","args":[]}`,
		func(ev Event) bool { a := ev.(*StasisStart).Args; return a != nil && len(a) == 0 }},
	{"{} is an empty map, not nil", `{"type":"StasisEnd","channel":{"channelvars":{}}}`,
		func(ev Event) bool { m := ev.(*StasisEnd).Channel.ChannelVars; return m != nil && len(m) == 0 }},
	{"a RawMessage is the value's text, inner whitespace and escapes as sent", `{"type":"ChannelUserevent","userevent" :	{ "a" : [1, 2.5e3, "\u00e9", {}] } }`,
		func(ev Event) bool {
			return string(ev.(*ChannelUserevent).Userevent) == `{ "a" : [1, 2.5e3, "\u00e9", {}] }`
		}},
	{"a RawMessage string", `{"type":"ChannelUserevent","userevent":"x"}`,
		func(ev Event) bool { return string(ev.(*ChannelUserevent).Userevent) == `"x"` }},

	// duplicate keys
	{"the later of two keys wins", `{"type":"Dial","dialstatus":"BUSY","dialstatus":"ANSWER"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "ANSWER" }},
	{"a second object merges into the struct", `{"type":"Dial","peer":{"id":"a","name":"x"},"peer":{"name":"n"}}`,
		func(ev Event) bool { p := ev.(*Dial).Peer; return p.ID == "a" && p.Name == "n" }},
	{"a second object merges into the struct pointed to", `{"type":"Dial","caller":{"id":"a"},"caller":{"name":"n"}}`,
		func(ev Event) bool { c := ev.(*Dial).Caller; return c.ID == "a" && c.Name == "n" }},
	{"a second object merges into the map", `{"type":"StasisEnd","channel":{"channelvars":{"a":"1","b":"1"},"channelvars":{"b":"2"}}}`,
		func(ev Event) bool {
			return maps.Equal(ev.(*StasisEnd).Channel.ChannelVars, map[string]string{"a": "1", "b": "2"})
		}},
	{"a second channel merges, its map too", `{"type":"StasisEnd","channel":{"channelvars":{"a":"1"}},"channel":{"channelvars":{"b":"2"}}}`,
		func(ev Event) bool { return len(ev.(*StasisEnd).Channel.ChannelVars) == 2 }},
	{"a second array decodes into the first one's elements", `{"type":"StasisStart","args":["a","b"],"args":[null]}`,
		func(ev Event) bool { return slices.Equal(ev.(*StasisStart).Args, []string{"a"}) }},
	{"a second array of objects merges into the first one's", `{"type":"ChannelTransfer","refer_to":{"requested_destination":{"additional_protocol_params":[{"parameter_name":"n"}],"additional_protocol_params":[{"parameter_value":"v"}]}}}`,
		func(ev Event) bool {
			p := ev.(*ChannelTransfer).ReferTo.RequestedDestination.AdditionalProtocolParams
			return len(p) == 1 && p[0] == AdditionalParam{ParameterName: "n", ParameterValue: "v"}
		}},
	{"a second array after null starts afresh", `{"type":"StasisStart","args":["a","b"],"args":null,"args":[null]}`,
		func(ev Event) bool { return slices.Equal(ev.(*StasisStart).Args, []string{""}) }},

	// keys
	{"EventBase's keys are promoted", `{"type":"Dial","application":"transferd","timestamp":"t","asterisk_id":"i"}`,
		func(ev Event) bool {
			return ev.(*Dial).EventBase == EventBase{Type: "Dial", Application: "transferd", Timestamp: "t", AsteriskID: "i"}
		}},
	{"keys match fields case-insensitively", `{"type":"Dial","DialStatus":"BUSY"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }},
	{"keys match fields by Unicode case folding (long s)", `{"type":"Dial","dialstatuſ":"BUSY"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }},
	{"keys match fields by Unicode case folding (Kelvin sign)", `{"type":"Dial","asterisK_id":"i"}`,
		func(ev Event) bool { return ev.(*Dial).AsteriskID == "i" }},
	{"an escaped key matches its field", `{"type":"Dial","dial\u0073tatus":"BUSY"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }},
	{"an unknown key's value is skipped", `{"type":"Dial","dialstatus":"BUSY","x":{"y":[1,-2.5E-3,true,false,null,"z\"\\"]},"z":[]}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }},
	{"map keys are unquoted", `{"type":"StasisEnd","channel":{"channelvars":{"a\nb\u00e9":"1"}}}`,
		func(ev Event) bool { return ev.(*StasisEnd).Channel.ChannelVars["a\nbé"] == "1" }},

	// strings
	{"every escape", `{"type":"Dial","dialstring":"\"\\\/\b\f\n\r\t\u00e9\u20AC\ud83d\ude00"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstring == "\"\\/\b\f\n\r\té€😀" }},
	{"a lone surrogate is U+FFFD", `{"type":"Dial","dialstring":"\ud83d x \ude00"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstring == "\uFFFD x \uFFFD" }},
	{"a high surrogate then a non-surrogate escape", `{"type":"Dial","dialstring":"\ud83d\u0041"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstring == "\uFFFDA" }},
	{"invalid UTF-8 is U+FFFD per byte", "{\"type\":\"Dial\",\"dialstring\":\"a\xff\xfe\xed\xa0\x80b\"}",
		func(ev Event) bool { return ev.(*Dial).Dialstring == "a\uFFFD\uFFFD\uFFFD\uFFFD\uFFFDb" }},
	{"UTF-8", `{"type":"Dial","peer":{"caller":{"name":"José Müller 日本"}}}`,
		func(ev Event) bool { return ev.(*Dial).Peer.Caller.Name == "José Müller 日本" }},

	// numbers
	{"integers", `{"type":"ChannelDestroyed","cause":-0,"tech_cause":9223372036854775807,"channel":{"dialplan":{"priority":-9223372036854775808}}}`,
		func(ev Event) bool {
			e := ev.(*ChannelDestroyed)
			return e.Cause == 0 && e.TechCause == 1<<63-1 && e.Channel.Dialplan.Priority == -1<<63
		}},
	{"a fraction into an int", `{"type":"ChannelDestroyed","cause":1.0}`, nil},
	{"an exponent into an int", `{"type":"ChannelDestroyed","cause":1e2}`, nil},
	{"an int out of range", `{"type":"ChannelDestroyed","cause":9223372036854775808}`, nil},
	{"a leading zero", `{"type":"ChannelDestroyed","cause":01}`, nil},

	// wrong types
	{"a number into a string", `{"type":"Dial","dialstatus":5}`, nil},
	{"a string into an int", `{"type":"ChannelDestroyed","cause":"16"}`, nil},
	{"a string into a bool", `{"type":"ChannelHangupRequest","soft":"true"}`, nil},
	{"an array into a struct", `{"type":"Dial","peer":[]}`, nil},
	{"an object into a slice", `{"type":"StasisStart","args":{}}`, nil},
	{"a number in a string array", `{"type":"StasisStart","args":[1]}`, nil},
	{"a number as a map value", `{"type":"StasisEnd","channel":{"channelvars":{"a":1}}}`, nil},

	// the text around
	{"whitespace around", " \r\n\t{ \"type\" : \"Dial\" , \"dialstatus\" : \"BUSY\" } \n",
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }},
	{"something after the object", `{"type":"Dial"} x`, nil},
	{"a second object", `{"type":"Dial"}{}`, nil},
	{"not an object", `[{"type":"Dial"}]`, nil},
	{"cut short", `{"type":"Dial","dialstatus":"BU`, nil},
	{"a control character in a string", "{\"type\":\"Dial\",\"dialstatus\":\"a\x01\"}", nil},
	{"an escape JSON does not have", `{"type":"Dial","dialstatus":"\'"}`, nil},
	{"a short \\u escape", `{"type":"Dial","dialstatus":"\u12"}`, nil},
	{"invalid JSON under an unknown key", `{"type":"Dial","x":[1,]}`, nil},
	{"a trailing comma", `{"type":"Dial",}`, nil},
	{"deep nesting", `{"type":"Dial","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
		func(ev Event) bool { return ev.EventType() == "Dial" }},

	// type guesses
	{"an unknown type", `{"type":"SomethingNew","x":[1]}`,
		func(ev Event) bool { return ev.(*UnknownEvent).Type == "SomethingNew" }},
	{"a nested type key first", `{"userevent":{"type":"StasisEnd"},"type":"ChannelUserevent","eventname":"x"}`,
		func(ev Event) bool { return ev.(*ChannelUserevent).Eventname == "x" }},
	{"no type", `{"application":"transferd"}`, nil},
}

// encoding/json's rules for the unusual, and DecodeEvent following each.
func TestDecodeEventFollowsEncodingJSONsRules(t *testing.T) {
	for _, tt := range trickyFrames {
		t.Run(tt.name, func(t *testing.T) {
			frame := []byte(tt.frame)
			full, fullErr := decodeEventFully(frame)
			switch {
			case tt.rule == nil && fullErr == nil:
				t.Fatalf("encoding/json decodes %s to %#v, want an error", frame, full)
			case tt.rule != nil && fullErr != nil:
				t.Fatalf("encoding/json: %v", fullErr)
			case tt.rule != nil && !tt.rule(full):
				t.Fatalf("encoding/json decodes %s to %#v, not as the rule says", frame, full)
			}
			ev, err := DecodeEvent(frame)
			if (err == nil) != (fullErr == nil) || !reflect.DeepEqual(ev, full) {
				t.Fatalf("DecodeEvent = %#v, %v; encoding/json: %#v, %v", ev, err, full, fullErr)
			}
		})
	}
}
