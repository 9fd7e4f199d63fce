package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/transferd/transferd/internal/sipphone"
)

const testToken = "test-token-0123456789"

// withAPI turns the REST API on for a bed.
func withAPI(c *Config) { c.API.Token = testToken }

// rest calls the API and decodes a JSON answer into out (if not nil).
func (b *bed) rest(method, path, body string, out any) int {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(b.ctx, method, b.ops+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			b.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// callID is the id of the one call transferd handles.
func (b *bed) callID() string {
	b.t.Helper()
	var calls []struct {
		ID string `json:"id"`
	}
	if code := b.rest("GET", "/v1/calls", "", &calls); code != 200 || len(calls) != 1 {
		b.t.Fatalf("GET /v1/calls: %d %+v", code, calls)
	}
	return calls[0].ID
}

// events follows /v1/events and returns the events' "step kind outcome".
func (b *bed) events() <-chan string { return b.followEvents(false) }

// eventsWithNode follows /v1/events and returns the events' "node step
// kind outcome".
func (b *bed) eventsWithNode() <-chan string { return b.followEvents(true) }

func (b *bed) followEvents(withNode bool) <-chan string {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(b.ctx, "GET", b.ops+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		b.t.Fatalf("GET /v1/events: %v %v", resp, err)
	}
	out := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev struct{ Node, Step, Kind, Outcome string }
			json.Unmarshal([]byte(data), &ev)
			line := ev.Step + " " + ev.Kind + " " + ev.Outcome
			if withNode {
				line = ev.Node + " " + line
			}
			out <- strings.TrimSpace(line)
		}
	}()
	return out
}

func (b *bed) expectEvents(ch <-chan string, want ...string) {
	b.t.Helper()
	for _, w := range want {
		select {
		case got := <-ch:
			if got != w {
				b.t.Fatalf("event stream: %q, want %q", got, w)
			}
		case <-time.After(10 * time.Second):
			b.t.Fatalf("event stream: no %q", w)
		}
	}
}

func TestAPIBlindTransfer(t *testing.T) {
	b := newBed(t, withAPI, "101", "102", "103")
	events := b.events()
	a, c := b.call("101", "102")
	b.hears("101", a, "102") // the receptionist talks to the caller first
	var started struct {
		TransferID string `json:"transfer_id"`
	}
	if code := b.rest("POST", "/v1/calls/"+b.callID()+"/transfers", `{"kind":"blind","destination":"103"}`, &started); code != 202 || started.TransferID == "" {
		t.Fatalf("blind transfer: %d %+v", code, started)
	}
	if err := c.WaitEnded(b.ctx); err != nil {
		t.Fatalf("102 (the receptionist) is not released: %v", err)
	}
	in := b.rings("103")
	b.hearsMusic("101 (ringback)", a)
	in.Answer(b.ctx)
	b.hears("101", a, "103")
	b.hears("103", in, "101")
	b.expectEvents(events, "started blind", "ringing blind", "answered blind", "ended blind completed")
	a.Hangup(b.ctx)
	in.WaitEnded(b.ctx)
}

func TestAPIAttendedTransferCompleteAndCancel(t *testing.T) {
	for _, finish := range []string{"complete", "cancel"} {
		t.Run(finish, func(t *testing.T) {
			b := newBed(t, withAPI, "101", "102", "103")
			events := b.events()
			a, c := b.call("101", "102")
			b.hears("101", a, "102")
			id := b.callID()
			if code := b.rest("POST", "/v1/calls/"+id+"/transfers", `{"kind":"attended","destination":"103"}`, nil); code != 202 {
				t.Fatalf("attended transfer: %d", code)
			}
			b.hearsMusic("101 (held)", a)
			in := b.rings("103")
			in.Answer(b.ctx)
			b.hears("102", c, "103")
			b.hears("103", in, "102")
			b.hearsMusic("101 (still held)", a)
			if code := b.rest("POST", "/v1/calls/"+id+"/transfer/"+finish, "", nil); code != 204 {
				t.Fatalf("%s: %d", finish, code)
			}
			var other *sipphone.Call
			if finish == "complete" {
				c.WaitEnded(b.ctx)
				b.hears("101", a, "103")
				b.hears("103", in, "101")
				other = in
				b.expectEvents(events, "started attended", "ringing attended", "answered attended", "ended attended completed")
			} else {
				in.WaitEnded(b.ctx)
				b.hears("101", a, "102")
				b.hears("102", c, "101")
				other = c
				b.expectEvents(events, "started attended", "ringing attended", "answered attended", "ended attended cancelled")
			}
			a.Hangup(b.ctx)
			other.WaitEnded(b.ctx)
		})
	}
}

func TestAPIVoicemailTransferAndErrors(t *testing.T) {
	b := newBed(t, withAPI, "101", "102")
	a, c := b.call("101", "102")
	id := b.callID()
	for _, tt := range []struct {
		path, body string
		want       int
	}{
		{"/v1/calls/nope/transfers", `{"kind":"blind","destination":"103"}`, 404},
		{"/v1/calls/" + id + "/transfers", `{"kind":"blind","destination":"0900123456"}`, 422},
		{"/v1/calls/" + id + "/transfers", `{"kind":"voicemail","destination":"199"}`, 422},
		{"/v1/calls/" + id + "/transfers", `{"kind":"teleport","destination":"103"}`, 400},
		{"/v1/calls/" + id + "/transfers", `{"kind":"blind"`, 400},
		{"/v1/calls/" + id + "/transfer/complete", ``, 409},
	} {
		var e struct{ Error string }
		if code := b.rest("POST", tt.path, tt.body, &e); code != tt.want || e.Error == "" {
			t.Errorf("POST %s %s: %d %q, want %d with a message", tt.path, tt.body, code, e.Error, tt.want)
		}
	}
	b.hears("101 (unchanged by refused requests)", a, "102")
	req, _ := http.NewRequestWithContext(b.ctx, "GET", b.ops+"/v1/calls", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("without the token: %v %v, want 401", resp.StatusCode, err)
	}
	if code := b.rest("POST", "/v1/calls/"+id+"/transfers", `{"kind":"voicemail","destination":"102"}`, nil); code != 202 {
		t.Fatalf("voicemail transfer: %d", code)
	}
	c.WaitEnded(b.ctx)
	b.leavesMessage(a, "102", 3*time.Second)
}

// The running server serves every path and method openapi.yaml documents,
// and answers with a status the document lists.
func TestOpenAPIDocumentMatchesTheServer(t *testing.T) {
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `yaml:"responses"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	b := newBed(t, withAPI)
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if path == "/v1/events" {
				continue // a stream: TestAPIBlindTransfer reads it
			}
			body := ""
			if method == "post" && strings.HasSuffix(path, "/transfers") {
				body = `{"kind":"blind","destination":"103"}`
			}
			code := b.rest(strings.ToUpper(method), strings.ReplaceAll(path, "{id}", "no-such-call"), body, nil)
			if _, documented := op.Responses[itoa(code)]; !documented {
				t.Errorf("%s %s answered %d, not documented in openapi.yaml", method, path, code)
			}
		}
	}
	if len(doc.Paths) < 5 {
		t.Errorf("openapi.yaml documents %d paths", len(doc.Paths))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
