package ari_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/transferd/transferd/ari"
)

// fakeOutboundAsterisk connects to a client's OutboundHandler the way
// Asterisk's persistent websocket_client does, and answers RESTRequests
// with answer.
type fakeOutboundAsterisk struct {
	t    *testing.T
	ws   *websocket.Conn
	reqs chan map[string]any
}

func dialAsAsterisk(t *testing.T, url, user, pass string) (*fakeOutboundAsterisk, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, strings.Replace(url, "http", "ws", 1)+"/ari", &websocket.DialOptions{
		Subprotocols: []string{"ari"},
		HTTPHeader:   http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}},
	})
	if err != nil {
		return nil, resp, err
	}
	a := &fakeOutboundAsterisk{t: t, ws: ws, reqs: make(chan map[string]any, 16)}
	t.Cleanup(func() { ws.CloseNow() })
	return a, resp, nil
}

func (a *fakeOutboundAsterisk) send(frame string) {
	a.t.Helper()
	if err := a.ws.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
		a.t.Fatal(err)
	}
}

// serve reads RESTRequests and answers each with status and body.
func (a *fakeOutboundAsterisk) serve(status int, body string) {
	go func() {
		for {
			_, data, err := a.ws.Read(context.Background())
			if err != nil {
				return
			}
			var req map[string]any
			json.Unmarshal(data, &req)
			a.reqs <- req
			res, _ := json.Marshal(map[string]any{
				"type": "RESTResponse", "request_id": req["request_id"], "status_code": status,
				"reason_phrase": http.StatusText(status), "uri": req["uri"], "message_body": body,
			})
			a.ws.Write(context.Background(), websocket.MessageText, res)
		}
	}()
}

func outboundClient(t *testing.T) (*ari.Client, <-chan ari.Event, *httptest.Server) {
	t.Helper()
	return outboundClientWith(t, func(*ari.Config) {})
}

// outboundClientWith is outboundClient with its configuration changed by
// tweak first.
func outboundClientWith(t *testing.T, tweak func(*ari.Config)) (*ari.Client, <-chan ari.Event, *httptest.Server) {
	t.Helper()
	cfg := ari.Config{Outbound: true, Username: "transferd", Password: "secret", App: "transferd",
		Timeout: 3 * time.Second, PingInterval: 200 * time.Millisecond}
	tweak(&cfg)
	c, err := ari.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ari", c.OutboundHandler())
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	events, err := c.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); c.Close(); srv.Close() })
	return c, events, srv
}

func nextEvent(t *testing.T, events <-chan ari.Event) ari.Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(3 * time.Second):
		t.Fatal("no event")
		return nil
	}
}

// Given Asterisk connected to the application (outbound websocket), its
// events reach the stream and REST requests travel over the same
// connection as RESTRequest frames, their answers matched by request_id.
func TestOutboundCarriesEventsAndREST(t *testing.T) {
	c, events, srv := outboundClient(t)
	a, _, err := dialAsAsterisk(t, srv.URL, "transferd", "secret")
	if err != nil {
		t.Fatal(err)
	}
	a.send(`{"type":"StasisStart","application":"transferd","channel":{"id":"ch1","name":"PJSIP/101-00000001"}}`)
	if ev, ok := nextEvent(t, events).(*ari.StasisStart); !ok || ev.Channel.ID != "ch1" {
		t.Fatalf("got %#v, want the StasisStart of ch1", ev)
	}
	a.serve(204, "")
	if err := c.Answer(context.Background(), "ch1"); err != nil {
		t.Fatalf("answer over the websocket: %v", err)
	}
	req := <-a.reqs
	if req["type"] != "RESTRequest" || req["method"] != "POST" || req["uri"] != "channels/ch1/answer" {
		t.Fatalf("request frame %v; want a RESTRequest POST channels/ch1/answer (relative to /ari)", req)
	}
}

// Asterisk's error answers keep their meaning: a 404 is ErrNotFound.
func TestOutboundErrorAnswersMatchTheSentinels(t *testing.T) {
	c, _, srv := outboundClient(t)
	a, _, err := dialAsAsterisk(t, srv.URL, "transferd", "secret")
	if err != nil {
		t.Fatal(err)
	}
	a.serve(404, `{"message":"Channel not found"}`)
	err = c.Hangup(context.Background(), "gone", "normal")
	if !errors.Is(err, ari.ErrNotFound) || !strings.Contains(err.Error(), "Channel not found") {
		t.Fatalf("hangup of a gone channel: %v; want ErrNotFound with Asterisk's message", err)
	}
	req := <-a.reqs
	if req["method"] != "DELETE" || !strings.HasPrefix(req["uri"].(string), "channels/gone?") {
		t.Fatalf("request frame %v", req)
	}
}

// Wrong credentials are refused with 401 before any upgrade.
func TestOutboundRefusesWrongCredentials(t *testing.T) {
	_, _, srv := outboundClient(t)
	_, resp, err := dialAsAsterisk(t, srv.URL, "transferd", "wrong")
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial with a wrong password: %v (%v); want 401", err, resp)
	}
}

// A request made while Asterisk is not connected waits for it (within
// the request's time) rather than fail at once: Asterisk reconnects
// within its reconnect_interval.
func TestOutboundRequestWaitsForAsteriskToConnect(t *testing.T) {
	c, _, srv := outboundClient(t)
	done := make(chan error, 1)
	go func() { done <- c.Answer(context.Background(), "ch1") }()
	time.Sleep(100 * time.Millisecond)
	a, _, err := dialAsAsterisk(t, srv.URL, "transferd", "secret")
	if err != nil {
		t.Fatal(err)
	}
	a.serve(204, "")
	if err := <-done; err != nil {
		t.Fatalf("request made before Asterisk connected: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatalf("WaitConnected while connected: %v", err)
	}
}

// When the connection drops and Asterisk comes back, the stream says so
// (Disconnected, Reconnected: the engine reconciles), and a connection
// that stops answering pings is closed within a few ping intervals.
func TestOutboundReportsLossAndReturnAndDropsADeadPeer(t *testing.T) {
	_, events, srv := outboundClient(t)
	a, _, err := dialAsAsterisk(t, srv.URL, "transferd", "secret")
	if err != nil {
		t.Fatal(err)
	}
	a.ws.CloseNow()
	if _, ok := nextEvent(t, events).(*ari.Disconnected); !ok {
		t.Fatal("no Disconnected after Asterisk's connection closed")
	}
	// The next connection never reads: its pongs never come.
	dead, _, err := dialAsAsterisk(t, srv.URL, "transferd", "secret")
	if err != nil {
		t.Fatal(err)
	}
	_ = dead
	if _, ok := nextEvent(t, events).(*ari.Reconnected); !ok {
		t.Fatal("no Reconnected when Asterisk connected again")
	}
	start := time.Now()
	if _, ok := nextEvent(t, events).(*ari.Disconnected); !ok {
		t.Fatal("a peer that answers no ping was not dropped")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("dead peer dropped after %s; want within a few 200 ms ping intervals", took)
	}
}

// Events nobody reads yet (an engine adopting calls before it runs) do not
// hold up REST answers arriving on the same connection behind them.
func TestOutboundAnswersAreNotStuckBehindUnreadEvents(t *testing.T) {
	c, events, srv := outboundClient(t)
	a, _, err := dialAsAsterisk(t, srv.URL, "transferd", "secret")
	if err != nil {
		t.Fatal(err)
	}
	const queued = 500 // Asterisk's replay after a reconnect can be long
	for range queued {
		a.send(`{"type":"ChannelVarset","application":"transferd","variable":"X","value":"1","channel":{"id":"ch1"}}`)
	}
	a.serve(204, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Answer(ctx, "ch1"); err != nil {
		t.Fatalf("REST answer behind %d unread events: %v", queued, err)
	}
	for i := range queued {
		if _, ok := nextEvent(t, events).(*ari.ChannelVarset); !ok {
			t.Fatalf("event %d lost or reordered", i)
		}
	}
}

// A new connection takes requests only once Asterisk's first frame has
// arrived: Asterisk read a request sent right after the upgrade only a
// second later (see firstFrameWait).
func TestOutboundRequestsWaitForAsterisksFirstFrame(t *testing.T) {
	c, _, srv := outboundClient(t)
	a, _, err := dialAsAsterisk(t, srv.URL, "transferd", "secret")
	if err != nil {
		t.Fatal(err)
	}
	arrived := make(chan time.Time, 1)
	go func() {
		_, data, err := a.ws.Read(context.Background())
		if err != nil {
			return
		}
		arrived <- time.Now()
		var req map[string]any
		json.Unmarshal(data, &req)
		res, _ := json.Marshal(map[string]any{"type": "RESTResponse", "request_id": req["request_id"], "status_code": 204})
		a.ws.Write(context.Background(), websocket.MessageText, res)
	}()
	done := make(chan error, 1)
	go func() { done <- c.Answer(context.Background(), "ch1") }()
	time.Sleep(100 * time.Millisecond)
	firstFrame := time.Now()
	a.send(`{"type":"ApplicationRegistered","application":"transferd"}`)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if at := <-arrived; at.Before(firstFrame) {
		t.Fatalf("the request arrived %s before Asterisk's first frame; want after it", firstFrame.Sub(at))
	}
}

// With RESTOverHTTP, events come over Asterisk's connection and REST
// requests go to Asterisk's HTTP server, only while Asterisk is connected:
// a replica whose connection went elsewhere sends nothing.
func TestOutboundRESTOverHTTPGoesToTheURLWhileConnected(t *testing.T) {
	var posts []string
	httpAsterisk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts = append(posts, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer httpAsterisk.Close()
	c, events, srv := outboundClientWith(t, func(cfg *ari.Config) {
		cfg.RESTOverHTTP, cfg.URL = true, httpAsterisk.URL+"/ari"
		// (With an event filter: it is set over the connection, whatever
		// the REST transport.)
		cfg.Events = []string{"StasisStart"}
	})

	short, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer stop()
	if err := c.Answer(short, "ch1"); !errors.Is(err, ari.ErrNotConnected) || len(posts) != 0 {
		t.Fatalf("before Asterisk connects: %v, %v; want ErrNotConnected and no request", err, posts)
	}
	a, _, err := dialAsAsterisk(t, srv.URL, "transferd", "secret")
	if err != nil {
		t.Fatal(err)
	}
	a.serve(204, "")
	if req := <-a.reqs; req["method"] != "PUT" || !strings.HasPrefix(req["uri"].(string), "applications/transferd/eventFilter") {
		t.Fatalf("first request over the connection: %v, want the event filter", req)
	}
	a.send(`{"type":"StasisStart","application":"transferd","channel":{"id":"ch1","name":"PJSIP/101-00000001"}}`)
	if ev, ok := nextEvent(t, events).(*ari.StasisStart); !ok || ev.Channel.ID != "ch1" {
		t.Fatalf("got %#v, want the StasisStart of ch1 over the connection", ev)
	}
	if err := c.Answer(context.Background(), "ch1"); err != nil {
		t.Fatalf("answer over HTTP: %v", err)
	}
	if len(posts) != 1 || posts[0] != "POST /ari/channels/ch1/answer" {
		t.Fatalf("HTTP requests %v, want POST /ari/channels/ch1/answer", posts)
	}
	select {
	case req := <-a.reqs:
		t.Fatalf("a request went over the connection: %v", req)
	default:
	}
	c.Close()
	if err := c.Answer(context.Background(), "ch1"); !errors.Is(err, ari.ErrNotConnected) || len(posts) != 1 {
		t.Fatalf("after the connection was handed over: %v, %v; want ErrNotConnected and no request", err, posts)
	}
}

// A connection Asterisk drops before its first frame (it does when it
// reconnects in a hurry, as after a takeover) does not keep a waiter
// waiting past the next connection: WaitConnected returns once that one
// is open.
func TestOutboundWaiterOutlivesAConnectionDroppedBeforeItsFirstFrame(t *testing.T) {
	c, _, srv := outboundClient(t)
	waited := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		waited <- c.WaitConnected(ctx)
	}()
	time.Sleep(50 * time.Millisecond) // (the waiter holds the link's state)
	first, _, err := dialAsAsterisk(t, srv.URL, "transferd", "secret")
	if err != nil {
		t.Fatal(err)
	}
	first.ws.CloseNow()
	time.Sleep(50 * time.Millisecond)
	second, _, err := dialAsAsterisk(t, srv.URL, "transferd", "secret")
	if err != nil {
		t.Fatal(err)
	}
	second.serve(204, "")
	second.send(`{"type":"ApplicationRegistered","application":{"name":"transferd"}}`)
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("WaitConnected: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("WaitConnected still waits 2 s after the second connection opened")
	}
}
