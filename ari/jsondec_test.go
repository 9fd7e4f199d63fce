package ari

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// decodeTargets make an empty value of every type the differential tests
// decode into: every event type, EventBase (unknown events), and models on
// their own, so the fuzzer reaches their decoders without an envelope.
func decodeTargets() map[string]func() objectDecoder {
	targets := map[string]func() objectDecoder{
		"EventBase":           func() objectDecoder { return new(EventBase) },
		"Channel":             func() objectDecoder { return new(Channel) },
		"Bridge":              func() objectDecoder { return new(Bridge) },
		"ReferTo":             func() objectDecoder { return new(ReferTo) },
		"RequiredDestination": func() objectDecoder { return new(RequiredDestination) },
		"TextMessage":         func() objectDecoder { return new(TextMessage) },
		"LiveRecording":       func() objectDecoder { return new(LiveRecording) },
		"DialplanCEP":         func() objectDecoder { return new(DialplanCEP) },
	}
	for name, newEvent := range eventTypes {
		targets[name] = func() objectDecoder { return newEvent().(objectDecoder) }
	}
	return targets
}

// fastMatchesEncodingJSON decodes data into a new value with the fast
// decoder and, if it does not give up, checks that encoding/json takes the
// frame too and makes an equal value of it, and that nothing decoded
// aliases data. It says whether the fast decoder decoded the frame.
func fastMatchesEncodingJSON(t *testing.T, data []byte, newValue func() objectDecoder) bool {
	t.Helper()
	frame := bytes.Clone(data)
	fast := newValue()
	if err := decodeJSON(frame, fast); err != nil {
		if !errors.Is(err, errNotHandled) {
			t.Fatalf("%T: the fast decoder failed without giving up: %v", fast, err)
		}
		return false
	}
	for i := range frame {
		frame[i] = '#' // the caller reuses its buffer
	}
	want := newValue()
	if err := json.Unmarshal(data, want); err != nil {
		t.Fatalf("%T: the fast decoder took %q, encoding/json fails: %v", fast, data, err)
	}
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("%T from %q:\nfast decoder:  %#v\nencoding/json: %#v", fast, data, fast, want)
	}
	return true
}

// Whenever the generated decoders decode a frame, encoding/json decodes it
// too, to an equal value: the fast path may give up, but never differs.
func FuzzFastDecoderMatchesEncodingJSON(f *testing.F) {
	for _, frame := range fastDecoderSeeds(f) {
		f.Add(frame)
	}
	targets := decodeTargets()
	names := slices.Sorted(maps.Keys(targets))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range names {
			fastMatchesEncodingJSON(t, data, targets[name])
		}
		// And the whole of DecodeEvent's fast path, type guess included.
		if fast, err := decodeEventFast(data, typeField(data)); err == nil {
			full, fullErr := decodeEventFully(data)
			if fullErr != nil || !reflect.DeepEqual(fast, full) {
				t.Fatalf("decodeEventFast(%q) = %#v\ndecodeEventFully: %#v, %v", data, fast, full, fullErr)
			}
		} else if !errors.Is(err, errNotHandled) {
			t.Fatalf("decodeEventFast(%q) failed without giving up: %v", data, err)
		}
	})
}

// fastDecoderSeeds are Asterisk 22's frames (every shipped event type when
// the swagger files are there, compact and pretty-printed), and the tricky
// frames of TestFastDecoderFollowsEncodingJSONsRules.
func fastDecoderSeeds(tb testing.TB) [][]byte {
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
// checked on encoding/json's result; nil when encoding/json fails), and
// whether the fast decoder does the same (fast) or gives up.
var trickyFrames = []struct {
	name  string
	frame string
	rule  func(ev Event) bool
	fast  bool
}{
	// null
	{"null leaves a string as it is", `{"type":"Dial","dialstatus":"BUSY","dialstatus":null}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }, true},
	{"null leaves an int as it is", `{"type":"ChannelDestroyed","cause":16,"cause":null}`,
		func(ev Event) bool { return ev.(*ChannelDestroyed).Cause == 16 }, true},
	{"null leaves a bool as it is", `{"type":"ChannelHangupRequest","soft":true,"soft":null}`,
		func(ev Event) bool { return ev.(*ChannelHangupRequest).Soft }, true},
	{"null leaves a struct as it is", `{"type":"Dial","peer":{"id":"a"},"peer":null}`,
		func(ev Event) bool { return ev.(*Dial).Peer.ID == "a" }, true},
	{"null makes a pointer nil", `{"type":"Dial","caller":{"id":"a"},"caller":null}`,
		func(ev Event) bool { return ev.(*Dial).Caller == nil }, true},
	{"null makes a slice nil", `{"type":"StasisStart","args":["a"],"args":null}`,
		func(ev Event) bool { return ev.(*StasisStart).Args == nil }, true},
	{"null makes a map nil", `{"type":"StasisEnd","channel":{"channelvars":{"a":"1"},"channelvars":null}}`,
		func(ev Event) bool { return ev.(*StasisEnd).Channel.ChannelVars == nil }, true},
	{"null into a RawMessage is the text null", `{"type":"ChannelUserevent","userevent":null}`,
		func(ev Event) bool { return string(ev.(*ChannelUserevent).Userevent) == "null" }, true},
	{"a null map value is the empty string", `{"type":"StasisEnd","channel":{"channelvars":{"a":null}}}`,
		func(ev Event) bool { v, ok := ev.(*StasisEnd).Channel.ChannelVars["a"]; return ok && v == "" }, true},
	{"a null string element is the empty string", `{"type":"StasisStart","args":["a",null]}`,
		func(ev Event) bool { return slices.Equal(ev.(*StasisStart).Args, []string{"a", ""}) }, true},
	{"a null object element is a zero one", `{"type":"ChannelTransfer","refer_to":{"requested_destination":{"additional_protocol_params":[null,{"parameter_name":"n"}]}}}`,
		func(ev Event) bool {
			p := ev.(*ChannelTransfer).ReferTo.RequestedDestination.AdditionalProtocolParams
			return len(p) == 2 && p[0] == AdditionalParam{} && p[1].ParameterName == "n"
		}, true},

	// empty containers, raw values
	{"[] is an empty slice, not nil", `{"type":"StasisStart","args":[]}`,
		func(ev Event) bool { a := ev.(*StasisStart).Args; return a != nil && len(a) == 0 }, true},
	{"{} is an empty map, not nil", `{"type":"StasisEnd","channel":{"channelvars":{}}}`,
		func(ev Event) bool { m := ev.(*StasisEnd).Channel.ChannelVars; return m != nil && len(m) == 0 }, true},
	{"a RawMessage is the value's text, inner whitespace and escapes as sent", `{"type":"ChannelUserevent","userevent" :	{ "a" : [1, 2.5e3, "\u00e9", {}] } }`,
		func(ev Event) bool {
			return string(ev.(*ChannelUserevent).Userevent) == `{ "a" : [1, 2.5e3, "\u00e9", {}] }`
		}, true},
	{"a RawMessage string", `{"type":"ChannelUserevent","userevent":"x"}`,
		func(ev Event) bool { return string(ev.(*ChannelUserevent).Userevent) == `"x"` }, true},

	// duplicate keys
	{"the later of two keys wins", `{"type":"Dial","dialstatus":"BUSY","dialstatus":"ANSWER"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "ANSWER" }, true},
	{"a second object merges into the struct", `{"type":"Dial","peer":{"id":"a","name":"x"},"peer":{"name":"n"}}`,
		func(ev Event) bool { p := ev.(*Dial).Peer; return p.ID == "a" && p.Name == "n" }, true},
	{"a second object merges into the struct pointed to", `{"type":"Dial","caller":{"id":"a"},"caller":{"name":"n"}}`,
		func(ev Event) bool { c := ev.(*Dial).Caller; return c.ID == "a" && c.Name == "n" }, true},
	{"a second object merges into the map", `{"type":"StasisEnd","channel":{"channelvars":{"a":"1","b":"1"},"channelvars":{"b":"2"}}}`,
		func(ev Event) bool {
			return maps.Equal(ev.(*StasisEnd).Channel.ChannelVars, map[string]string{"a": "1", "b": "2"})
		}, true},
	{"a second channel merges, its map too", `{"type":"StasisEnd","channel":{"channelvars":{"a":"1"}},"channel":{"channelvars":{"b":"2"}}}`,
		func(ev Event) bool { return len(ev.(*StasisEnd).Channel.ChannelVars) == 2 }, true},
	{"a second array decodes into the first one's elements", `{"type":"StasisStart","args":["a","b"],"args":[null]}`,
		func(ev Event) bool { return slices.Equal(ev.(*StasisStart).Args, []string{"a"}) }, false},
	{"a second array of objects merges into the first one's", `{"type":"ChannelTransfer","refer_to":{"requested_destination":{"additional_protocol_params":[{"parameter_name":"n"}],"additional_protocol_params":[{"parameter_value":"v"}]}}}`,
		func(ev Event) bool {
			p := ev.(*ChannelTransfer).ReferTo.RequestedDestination.AdditionalProtocolParams
			return len(p) == 1 && p[0] == AdditionalParam{ParameterName: "n", ParameterValue: "v"}
		}, false},
	{"a second array after null starts afresh", `{"type":"StasisStart","args":["a","b"],"args":null,"args":[null]}`,
		func(ev Event) bool { return slices.Equal(ev.(*StasisStart).Args, []string{""}) }, true},

	// keys
	{"EventBase's keys are promoted", `{"type":"Dial","application":"transferd","timestamp":"t","asterisk_id":"i"}`,
		func(ev Event) bool {
			return ev.(*Dial).EventBase == EventBase{Type: "Dial", Application: "transferd", Timestamp: "t", AsteriskID: "i"}
		}, true},
	{"keys match fields case-insensitively", `{"type":"Dial","DialStatus":"BUSY"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }, false},
	{"keys match fields by Unicode case folding (long s)", `{"type":"Dial","dialstatuſ":"BUSY"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }, false},
	{"keys match fields by Unicode case folding (Kelvin sign)", `{"type":"Dial","asterisK_id":"i"}`,
		func(ev Event) bool { return ev.(*Dial).AsteriskID == "i" }, false},
	{"an escaped key matches its field", `{"type":"Dial","dial\u0073tatus":"BUSY"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }, true},
	{"an unknown key's value is skipped", `{"type":"Dial","dialstatus":"BUSY","x":{"y":[1,-2.5E-3,true,false,null,"z\"\\"]},"z":[]}`,
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }, true},
	{"map keys are unquoted", `{"type":"StasisEnd","channel":{"channelvars":{"a\nb\u00e9":"1"}}}`,
		func(ev Event) bool { return ev.(*StasisEnd).Channel.ChannelVars["a\nbé"] == "1" }, true},

	// strings
	{"every escape", `{"type":"Dial","dialstring":"\"\\\/\b\f\n\r\t\u00e9\u20AC\ud83d\ude00"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstring == "\"\\/\b\f\n\r\té€😀" }, true},
	{"a lone surrogate is U+FFFD", `{"type":"Dial","dialstring":"\ud83d x \ude00"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstring == "\uFFFD x \uFFFD" }, true},
	{"a high surrogate then a non-surrogate escape", `{"type":"Dial","dialstring":"\ud83d\u0041"}`,
		func(ev Event) bool { return ev.(*Dial).Dialstring == "\uFFFDA" }, true},
	{"invalid UTF-8 is U+FFFD per byte", "{\"type\":\"Dial\",\"dialstring\":\"a\xff\xfe\xed\xa0\x80b\"}",
		func(ev Event) bool { return ev.(*Dial).Dialstring == "a\uFFFD\uFFFD\uFFFD\uFFFD\uFFFDb" }, true},
	{"UTF-8", `{"type":"Dial","peer":{"caller":{"name":"José Müller 日本"}}}`,
		func(ev Event) bool { return ev.(*Dial).Peer.Caller.Name == "José Müller 日本" }, true},

	// numbers
	{"integers", `{"type":"ChannelDestroyed","cause":-0,"tech_cause":9223372036854775807,"channel":{"dialplan":{"priority":-9223372036854775808}}}`,
		func(ev Event) bool {
			e := ev.(*ChannelDestroyed)
			return e.Cause == 0 && e.TechCause == 1<<63-1 && e.Channel.Dialplan.Priority == -1<<63
		}, true},
	{"a fraction into an int", `{"type":"ChannelDestroyed","cause":1.0}`, nil, false},
	{"an exponent into an int", `{"type":"ChannelDestroyed","cause":1e2}`, nil, false},
	{"an int out of range", `{"type":"ChannelDestroyed","cause":9223372036854775808}`, nil, false},
	{"a leading zero", `{"type":"ChannelDestroyed","cause":01}`, nil, false},

	// wrong types
	{"a number into a string", `{"type":"Dial","dialstatus":5}`, nil, false},
	{"a string into an int", `{"type":"ChannelDestroyed","cause":"16"}`, nil, false},
	{"a string into a bool", `{"type":"ChannelHangupRequest","soft":"true"}`, nil, false},
	{"an array into a struct", `{"type":"Dial","peer":[]}`, nil, false},
	{"an object into a slice", `{"type":"StasisStart","args":{}}`, nil, false},
	{"a number in a string array", `{"type":"StasisStart","args":[1]}`, nil, false},
	{"a number as a map value", `{"type":"StasisEnd","channel":{"channelvars":{"a":1}}}`, nil, false},

	// the text around
	{"whitespace around", " \r\n\t{ \"type\" : \"Dial\" , \"dialstatus\" : \"BUSY\" } \n",
		func(ev Event) bool { return ev.(*Dial).Dialstatus == "BUSY" }, true},
	{"something after the object", `{"type":"Dial"} x`, nil, false},
	{"a second object", `{"type":"Dial"}{}`, nil, false},
	{"not an object", `[{"type":"Dial"}]`, nil, false},
	{"cut short", `{"type":"Dial","dialstatus":"BU`, nil, false},
	{"a control character in a string", "{\"type\":\"Dial\",\"dialstatus\":\"a\x01\"}", nil, false},
	{"an escape JSON does not have", `{"type":"Dial","dialstatus":"\'"}`, nil, false},
	{"a short \\u escape", `{"type":"Dial","dialstatus":"\u12"}`, nil, false},
	{"invalid JSON under an unknown key", `{"type":"Dial","x":[1,]}`, nil, false},
	{"a trailing comma", `{"type":"Dial",}`, nil, false},
	{"nesting deeper than the fast decoder follows", `{"type":"Dial","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
		func(ev Event) bool { return ev.EventType() == "Dial" }, false},

	// type guesses
	{"an unknown type", `{"type":"SomethingNew","x":[1]}`,
		func(ev Event) bool { return ev.(*UnknownEvent).Type == "SomethingNew" }, true},
	{"a nested type key first", `{"userevent":{"type":"StasisEnd"},"type":"ChannelUserevent","eventname":"x"}`,
		func(ev Event) bool { return ev.(*ChannelUserevent).Eventname == "x" }, false},
	{"no type", `{"application":"transferd"}`, nil, false},
}

// encoding/json's rules for the unusual, and the fast decoder either
// following each exactly or giving up (so DecodeEvent falls back).
func TestFastDecoderFollowsEncodingJSONsRules(t *testing.T) {
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
			fast, err := decodeEventFast(frame, typeField(frame))
			switch {
			case err != nil && !errors.Is(err, errNotHandled):
				t.Fatalf("the fast decoder failed without giving up: %v", err)
			case tt.fast && err != nil:
				t.Fatalf("the fast decoder gave up: %v", err)
			case !tt.fast && err == nil:
				t.Fatalf("the fast decoder decoded %#v, want it to give up", fast)
			case tt.fast && !reflect.DeepEqual(fast, full):
				t.Fatalf("fast decoder:  %#v\nencoding/json: %#v", fast, full)
			}
			ev, err := DecodeEvent(frame)
			if (err == nil) != (fullErr == nil) || !reflect.DeepEqual(ev, full) {
				t.Fatalf("DecodeEvent = %#v, %v; encoding/json: %#v, %v", ev, err, full, fullErr)
			}
			for name, newValue := range decodeTargets() {
				t.Run(name, func(t *testing.T) { fastMatchesEncodingJSON(t, frame, newValue) })
			}
		})
	}
}

// The generator writes EventBase's decoder from a list of its own; it must
// still be EventBase's fields.
func TestEventBaseDecoderKnowsEveryField(t *testing.T) {
	var keys []string
	typ := reflect.TypeFor[EventBase]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		keys = append(keys, name)
	}
	if !slices.Equal(keys, strings.Fields(jsonKeysEventBase)) {
		t.Errorf("EventBase's keys are %q, its generated decoder's %q: update eventBaseFields in internal/ariagen", keys, jsonKeysEventBase)
	}
}

func TestJSONDecoderReadsStringsAsEncodingJSON(t *testing.T) {
	tests := []struct {
		in   string
		fast bool // else it gives up, and the input is not valid JSON
	}{
		{`""`, true},
		{`"plain ASCII"`, true},
		{`"José 日本 😀"`, true},
		{`"\"\\\/\b\f\n\r\t"`, true},
		{`"\u0000\u001f\u007F\u00e9\uFFFF"`, true},
		{`"\uD83D\uDE00"`, true},
		{`"\uDE00\uD83D"`, true},
		{`"\uD83D"`, true},
		{`"\uD83D\n"`, true},
		{`"\uD83D\uD83D\uDE00"`, true},
		{"\"\xff\"", true},
		{"\"\xc3\"", true},
		{"\"\xe2\x82\"", true},
		{"\"\xf4\x90\x80\x80\"", true}, // above U+10FFFF
		{"\"\xc0\xaf\"", true},         // overlong
		{`"\'"`, false},
		{`"\x41"`, false},
		{`"\u00G0"`, false},
		{`"\u00`, false},
		{`"\`, false},
		{`"abc`, false},
		{"\"a\x00b\"", false},
		{"\"a\tb\"", false},
		{"\"a\x7fb\"", true},
		{`"ends in a backslash\"`, false},
	}
	for _, tt := range tests {
		d := jsonDecoder{data: []byte(tt.in)}
		var got string
		d.readString(&got)
		if d.err == nil && d.pos != len(d.data) {
			t.Errorf("%q: read %d of %d bytes", tt.in, d.pos, len(d.data))
		}
		var want string
		wantErr := json.Unmarshal([]byte(tt.in), &want)
		switch {
		case tt.fast && d.err != nil:
			t.Errorf("%q: gave up: %v", tt.in, d.err)
		case !tt.fast && d.err == nil:
			t.Errorf("%q: read %q, want a give-up", tt.in, got)
		case !tt.fast && wantErr == nil:
			t.Errorf("%q: encoding/json takes it (%q)", tt.in, want)
		case tt.fast && (wantErr != nil || got != want):
			t.Errorf("%q: read %q, encoding/json %q, %v", tt.in, got, want, wantErr)
		}
	}
}

func TestJSONDecoderReadsIntegersAsEncodingJSON(t *testing.T) {
	tests := []struct {
		in   string
		fast bool // else it gives up, and encoding/json fails
	}{
		{"0", true},
		{"-0", true},
		{"7", true},
		{"-7", true},
		{"1234567890", true},
		{"9223372036854775807", true},
		{"-9223372036854775808", true},
		{"null", true},
		{"9223372036854775808", false},
		{"-9223372036854775809", false},
		{"18446744073709551616", false},
		{"99999999999999999999999", false},
		{"1.0", false},
		{"1e2", false},
		{"1E+2", false},
		{"-", false},
		{"+1", false},
		{".5", false},
		{"0x10", false},
		{"01", false},
		{"1.", false},
		{"1e", false},
		{`"7"`, false},
		{"true", false},
	}
	for _, tt := range tests {
		d := jsonDecoder{data: []byte(tt.in)}
		got := int64(42) // null leaves it
		d.readInt64(&got)
		if d.err == nil && d.pos != len(d.data) {
			d.giveUp("data after the number") // as a frame's next read would
		}
		want := int64(42)
		wantErr := json.Unmarshal([]byte(tt.in), &want)
		switch {
		case tt.fast && d.err != nil:
			t.Errorf("%s: gave up: %v", tt.in, d.err)
		case !tt.fast && d.err == nil:
			t.Errorf("%s: read %d, want a give-up", tt.in, got)
		case !tt.fast && wantErr == nil:
			t.Errorf("%s: encoding/json takes it (%d)", tt.in, want)
		case tt.fast && (wantErr != nil || got != want):
			t.Errorf("%s: read %d, encoding/json %d, %v", tt.in, got, want, wantErr)
		}
	}
}

// skipValue accepts what json.Valid accepts, but for nesting deeper than
// it follows.
func TestJSONDecoderSkipsExactlyTheValidValues(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	tests := []string{
		`null`, `true`, `false`, `0`, `-0`, `-0.5`, `12.5e+3`, `1E-9`, `1e07`,
		`""`, `"\u00e9\ud83d"`, "\"\xff\"", `[]`, `{}`, `[1,"a",{"b":[null]}]`,
		` { "a" : [ 1 , 2 ] } `, `{"a":{"a":{"a":{}}}}`,
		strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
		``, ` `, `nul`, `nulll`, `True`, `tru`, `-`, `--1`, `01`, `1.`, `.1`, `1e`, `1e+`, `+1`,
		`NaN`, `Infinity`, `0x1`, `[1,]`, `[,1]`, `[1 2]`, `{"a"}`, `{"a":}`, `{"a":1,}`,
		`{a:1}`, `{'a':1}`, `{"a" 1}`, `[`, `]`, `{`, `}`, `[}`, `{]`, `"\'"`, `"\u12"`,
		"\"\x1f\"", `"`, `"a`, `"\"`, "\"\\\x00\"", `//`, `/* */ 1`,
	}
	for _, in := range tests {
		d := jsonDecoder{data: []byte(in)}
		d.skipValue()
		d.skipSpace()
		skipped := d.err == nil && d.pos == len(d.data)
		if valid := json.Valid([]byte(in)); skipped != valid {
			t.Errorf("%q: skipped %v (%v), json.Valid %v", in, skipped, d.err, valid)
		}
	}
	d := jsonDecoder{data: []byte(deep)}
	d.skipValue()
	if !errors.Is(d.err, errNotHandled) || !json.Valid([]byte(deep)) {
		t.Errorf("nesting %d deep: %v, want a give-up", maxDepth+1, d.err)
	}
}
