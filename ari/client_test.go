package ari

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestA400InvalidStatesIsNotGone(t *testing.T) {
	err := &Error{Op: "transfer progress", ID: "c1", Status: 400, Message: "Invalid states value"}
	if errors.Is(err, ErrNotFound) || !errors.Is(err, ErrBadRequest) {
		t.Fatalf("%v: matches ErrNotFound %v, ErrBadRequest %v; want only ErrBadRequest", err, errors.Is(err, ErrNotFound), errors.Is(err, ErrBadRequest))
	}
}

func TestErrorsCarryStatusAndAsteriskMessageAndMatchSentinels(t *testing.T) {
	tests := []struct {
		status  int
		body    string
		want    error
		wantMsg string
	}{
		{404, `{"message":"Channel not found"}`, ErrNotFound, "ari: hangup channel c1: 404 Channel not found"},
		{409, `{"message":"Channel not in Stasis application"}`, ErrNotInStasis, "ari: hangup channel c1: 409 Channel not in Stasis application"},
		{400, `{"message":"Invalid states value"}`, ErrBadRequest, "ari: hangup channel c1: 400 Invalid states value"},
		// A bridge's removeChannel for a channel already gone answers 400.
		{400, `{"message":"Channel not found"}`, ErrNotFound, "ari: hangup channel c1: 400 Channel not found"},
		{422, `{"message":"Channel not in bridge"}`, ErrUnprocessable, "ari: hangup channel c1: 422 Channel not in bridge"},
		{500, `{"error":"Allocation failed"}`, nil, "ari: hangup channel c1: 500 Allocation failed"},
		{503, `not json`, nil, "ari: hangup channel c1: 503 Service Unavailable"},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
			io.WriteString(w, tt.body)
		}))
		c, err := New(Config{URL: srv.URL, Username: "u", Password: "topsecret", App: "a"})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Hangup(context.Background(), "c1", "normal")
		srv.Close()
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != tt.status {
			t.Errorf("status %d: err = %v, want *Error with that status", tt.status, err)
			continue
		}
		if err.Error() != tt.wantMsg {
			t.Errorf("message = %q, want %q", err, tt.wantMsg)
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("status %d: errors.Is(%v) = false", tt.status, tt.want)
		}
		if tt.want != ErrNotFound && IsGone(err) {
			t.Errorf("status %d (%s) reported as gone", tt.status, tt.body)
		}
	}
}

func TestRequestsEncodeParametersAsARIExpects(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+string(body)+" auth="+user+":"+pass)
		io.WriteString(w, `{"id":"x"}`)
	}))
	defer srv.Close()
	c, _ := New(Config{URL: srv.URL, Username: "u", Password: "p", App: "transferd"})
	ctx := context.Background()
	c.CreateChannel(ctx, ChannelCreate{ChannelID: "td-1", Endpoint: "PJSIP/102", Originator: "A", Variables: map[string]string{"PJSIP_TRANSFER_HANDLING()": "ari-only"}})
	c.Dial(ctx, "td-1", "A", 0)
	c.TransferProgress(ctx, "B", "channel_answered")
	c.CreateBridge(ctx, "br1", "mixing,dtmf_events", "transferd/c1")
	c.Continue(ctx, "A", "transferd-voicemail", "103", 1)
	want := []string{
		`POST /ari/channels/create?app=transferd&channelId=td-1&endpoint=PJSIP%2F102&originator=A {"variables":{"PJSIP_TRANSFER_HANDLING()":"ari-only"}} auth=u:p`,
		`POST /ari/channels/td-1/dial?caller=A  auth=u:p`,
		`POST /ari/channels/B/transfer_progress?states=channel_answered  auth=u:p`,
		`POST /ari/bridges?bridgeId=br1&name=transferd%2Fc1&type=mixing%2Cdtmf_events  auth=u:p`,
		`POST /ari/channels/A/continue?context=transferd-voicemail&extension=103&priority=1  auth=u:p`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCredentialsNeverAppearInErrors(t *testing.T) {
	c, err := New(Config{URL: "http://127.0.0.1:1", Username: "u", Password: "topsecret", App: "a"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Subscribe(context.Background())
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("subscribe to a dead server: %v", err)
	}
	err = c.Answer(context.Background(), "x")
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("answer on a dead server: %v", err)
	}
	if _, err := New(Config{URL: "http://u:topsecret@pbx:8088", App: "a"}); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("credentials in URL: %v", err)
	}
}

// Many calls at once must share a bounded set of kept-alive connections:
// opening one per request made Asterisk's HTTP server churn through
// thousands of connections under load (see maxConns).
func TestConcurrentRequestsReuseABoundedSetOfConnections(t *testing.T) {
	var mu sync.Mutex
	opened := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // a busy Asterisk
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			mu.Lock()
			opened++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	c, _ := New(Config{URL: srv.URL, Username: "u", Password: "p", App: "transferd"})
	var wg sync.WaitGroup
	for round := 0; round < 5; round++ {
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Ring(context.Background(), "A"); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	mu.Lock()
	defer mu.Unlock()
	if opened > maxConns {
		t.Errorf("500 requests, 100 at a time, opened %d connections; want at most %d", opened, maxConns)
	}
}

// http://pbx:8088/ari, the form Asterisk's documentation uses, names the
// same ARI as http://pbx:8088: requests go to /ari/..., not /ari/ari/...
func TestURLWithOrWithoutTheARIPath(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.Path)
		io.WriteString(w, `{"id":"x"}`)
	}))
	defer srv.Close()
	for _, u := range []string{srv.URL, srv.URL + "/", srv.URL + "/ari", srv.URL + "/ari/"} {
		got = nil
		c, err := New(Config{URL: u, Username: "u", Password: "p", App: "transferd"})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		c.Hangup(context.Background(), "c1", "normal")
		if len(got) != 1 || got[0] != "/ari/channels/c1" {
			t.Errorf("with url %s the request went to %v, want /ari/channels/c1", u, got)
		}
	}
}

// A wrong password and a wrong URL on the event WebSocket are errors that
// say what to change, matching ErrUnauthorized and ErrNotFound.
func TestSubscribeSaysWhatIsWrong(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   error
		says   string
	}{
		{http.StatusUnauthorized, ErrUnauthorized, "check the ARI username and password"},
		{http.StatusNotFound, ErrNotFound, "check the ARI URL"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
		}))
		c, _ := New(Config{URL: srv.URL, Username: "u", Password: "p", App: "transferd"})
		_, err := c.Subscribe(context.Background())
		if !errors.Is(err, tt.want) || err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("status %d: %v; want an error matching %v that says %q", tt.status, err, tt.want, tt.says)
		}
		c.Close()
		srv.Close()
	}
}
