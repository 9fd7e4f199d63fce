package ari

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeTypedEventsFromAsterisk22Shapes(t *testing.T) {
	frames := map[string]string{
		"StasisStart":     `{"type":"StasisStart","application":"transferd","args":[],"channel":{"id":"1.1","name":"PJSIP/101-00000001","state":"Ring","caller":{"name":"Phone 101","number":"101"},"dialplan":{"context":"transferd","exten":"102","priority":2}}}`,
		"ChannelTransfer": `{"type":"ChannelTransfer","application":"transferd","refer_to":{"requested_destination":{"destination":"103"}},"referred_by":{"source_channel":{"id":"B"},"connected_channel":{"id":"A"},"bridge":{"id":"br"}}}`,
		"Dial":            `{"type":"Dial","peer":{"id":"td-1"},"dialstatus":"BUSY"}`,
	}
	ev, err := DecodeEvent([]byte(frames["StasisStart"]))
	if err != nil {
		t.Fatal(err)
	}
	ss, ok := ev.(*StasisStart)
	if !ok || ss.Channel.Dialplan.Exten != "102" || ss.Channel.Caller.Number != "101" {
		t.Errorf("StasisStart decoded as %#v", ev)
	}
	ev, _ = DecodeEvent([]byte(frames["ChannelTransfer"]))
	ct, ok := ev.(*ChannelTransfer)
	if !ok || ct.ReferredBy.SourceChannel.ID != "B" || ct.ReferredBy.ConnectedChannel.ID != "A" || ct.ReferTo.RequestedDestination.Destination != "103" {
		t.Errorf("ChannelTransfer decoded as %#v", ev)
	}
	ev, _ = DecodeEvent([]byte(frames["Dial"]))
	if d, ok := ev.(*Dial); !ok || d.Peer.ID != "td-1" || d.Dialstatus != "BUSY" {
		t.Errorf("Dial decoded as %#v", ev)
	}
}

func TestUnknownEventTypesArriveRawNotAsErrors(t *testing.T) {
	frame := `{"type":"SomethingNewIn2027","application":"transferd","x":1}`
	ev, err := DecodeEvent([]byte(frame))
	if err != nil {
		t.Fatal(err)
	}
	u, ok := ev.(*UnknownEvent)
	if !ok || u.EventType() != "SomethingNewIn2027" || string(u.Raw) != frame {
		t.Errorf("got %#v", ev)
	}
}

// TestEveryShippedEventTypeDecodes builds an example of every event model
// in the events.json Asterisk ships and decodes it: modelled types decode
// to their Go type, the rest to *UnknownEvent, none to an error.
func TestEveryShippedEventTypeDecodes(t *testing.T) {
	path := filepath.Join(rootfsDir(t), "usr", "share", "asterisk", "rest-api", "events.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("events.json not available (%v): built with the sandbox root filesystem", err)
	}
	var spec struct {
		Models map[string]struct {
			ID         string `json:"id"`
			Properties map[string]struct {
				Type string `json:"type"`
			} `json:"properties"`
			SubTypes []string `json:"subTypes"`
		} `json:"models"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range spec.Models["Event"].SubTypes {
		m := spec.Models[name]
		n++
		frame := map[string]any{"type": name, "application": "transferd", "timestamp": "2026-11-25T00:00:00.000+0000"}
		for prop, p := range m.Properties {
			switch p.Type {
			case "string":
				frame[prop] = "x"
			case "int", "long":
				frame[prop] = 1
			case "boolean":
				frame[prop] = true
			case "Channel":
				frame[prop] = map[string]any{"id": "c1", "name": "PJSIP/101-1", "state": "Up"}
			case "Bridge":
				frame[prop] = map[string]any{"id": "b1", "channels": []string{"c1"}}
			case "Playback":
				frame[prop] = map[string]any{"id": "p1", "state": "playing"}
			}
		}
		raw, _ := json.Marshal(frame)
		ev, err := DecodeEvent(raw)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ev.EventType() != name {
			t.Errorf("%s decoded as %s", name, ev.EventType())
		}
		if _, unknown := ev.(*UnknownEvent); unknown {
			t.Errorf("%s: decoded as an unknown event, want its own type", name)
			continue
		}
		// Every property Asterisk sends lands in the field of that name.
		v := reflect.ValueOf(ev).Elem()
		for prop, p := range m.Properties {
			f, ok := fieldByTag(v, prop)
			if !ok {
				t.Errorf("%s.%s: no field", name, prop)
				continue
			}
			if f.Kind() == reflect.Pointer {
				if f.IsNil() {
					if p.Type == "Channel" || p.Type == "Bridge" || p.Type == "Playback" {
						t.Errorf("%s.%s: not decoded", name, prop)
					}
					continue
				}
				f = f.Elem()
			}
			switch p.Type {
			case "string":
				if prop != "type" && prop != "timestamp" && prop != "application" && f.String() != "x" {
					t.Errorf("%s.%s = %q, want %q", name, prop, f.String(), "x")
				}
			case "int", "long":
				if f.Int() != 1 {
					t.Errorf("%s.%s = %d, want 1", name, prop, f.Int())
				}
			case "boolean":
				if !f.Bool() {
					t.Errorf("%s.%s = false, want true", name, prop)
				}
			case "Channel":
				if got := f.FieldByName("ID").String(); got != "c1" {
					t.Errorf("%s.%s.ID = %q, want c1", name, prop, got)
				}
			}
		}
	}
	if n < 40 {
		t.Errorf("only %d event models in %s", n, path)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"type":"StasisStart","channel":{"id":"a"}}`))
	f.Add([]byte(`{"type":"ChannelTransfer","refer_to":{},"referred_by":{"source_channel":{}}}`))
	f.Add([]byte(`{"type":"Dial","peer":null}`))
	f.Add([]byte(`{"type":5}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data)
		if err == nil && ev == nil {
			t.Fatal("nil event without error")
		}
	})
}

func BenchmarkDecodeStasisStart(b *testing.B) {
	frame := []byte(`{"type":"StasisStart","timestamp":"2026-11-25T03:00:00.000+0000","args":[],"channel":{"id":"1764039600.42","name":"PJSIP/101-0000002a","state":"Ring","protocol_id":"abc@127.0.0.1","caller":{"name":"Phone 101","number":"101"},"connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"transferd","exten":"102","priority":2,"app_name":"Stasis","app_data":"transferd"},"creationtime":"2026-11-25T03:00:00.000+0000","language":"en"},"asterisk_id":"00:11:22:33:44:55","application":"transferd"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := DecodeEvent(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// fieldByTag finds the field (or embedded field) whose json name is tag.
func fieldByTag(v reflect.Value, tag string) (reflect.Value, bool) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if f.Anonymous {
			if got, ok := fieldByTag(v.Field(i), tag); ok {
				return got, true
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == tag {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// The committed events_gen.go is what the generator makes of the swagger
// files Asterisk 22 ships: the types cannot drift from Asterisk.
func TestGeneratedEventsMatchTheShippedSpec(t *testing.T) {
	specDir := filepath.Join(rootfsDir(t), "usr", "share", "asterisk", "rest-api")
	if _, err := os.Stat(filepath.Join(specDir, "events.json")); err != nil {
		t.Skipf("swagger files not available (%v): built with the sandbox root filesystem", err)
	}
	out := filepath.Join(t.TempDir(), "events_gen.go")
	cmd := exec.Command("go", "run", "../internal/ariagen", "-spec", specDir, "-out", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ariagen: %v\n%s", err, msg)
	}
	want, _ := os.ReadFile(out)
	got, err := os.ReadFile("events_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("events_gen.go is stale: run go generate ./ari")
	}
}

func rootfsDir(t *testing.T) string {
	if c := os.Getenv("TRANSFERD_CACHE"); c != "" {
		return filepath.Join(c, "rootfs")
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		t.Skip(err)
	}
	return filepath.Join(dir, "transferd", "rootfs")
}
