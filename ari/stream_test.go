package ari_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/transferd/transferd/ari"
)

// The event stream reads every frame into one buffer: an event must not
// keep pointing into it, or a later frame would rewrite events already
// delivered.
func TestEventsKeepTheirContentsWhenLaterFramesArrive(t *testing.T) {
	frames := []string{
		`{"type":"StasisStart","application":"transferd","channel":{"id":"first-channel","name":"PJSIP/101-00000001","dialplan":{"exten":"102"}}}`,
		`{"type":"ChannelUserevent","application":"transferd","eventname":"note","userevent":{"type":"raw-json-kept"}}`,
		`{"type":"SomethingNew","application":"transferd","detail":"unknown-kept"}`,
		// Later frames of other lengths reuse the buffer.
		`{"type":"StasisEnd","application":"transferd","channel":{"id":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}`,
		`{"type":"StasisEnd","channel":{"id":"y"}}`,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ari/events", func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		for _, f := range frames {
			if err := conn.Write(r.Context(), websocket.MessageText, []byte(f)); err != nil {
				return
			}
		}
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client, err := ari.New(ari.Config{URL: srv.URL, Username: "u", Password: "p", App: "transferd"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	stream, err := client.Subscribe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []ari.Event
	timeout := time.After(5 * time.Second)
	for len(got) < len(frames) {
		select {
		case ev := <-stream:
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("%d of %d events arrived", len(got), len(frames))
		}
	}
	start, ok := got[0].(*ari.StasisStart)
	if !ok || start.Channel.ID != "first-channel" || start.Channel.Name != "PJSIP/101-00000001" || start.Channel.Dialplan.Exten != "102" {
		t.Errorf("first event now %#v", got[0])
	}
	user, ok := got[1].(*ari.ChannelUserevent)
	if !ok || user.Eventname != "note" || string(user.Userevent) != `{"type":"raw-json-kept"}` {
		t.Errorf("second event now %#v", got[1])
	}
	unknown, ok := got[2].(*ari.UnknownEvent)
	if !ok || unknown.Type != "SomethingNew" || string(unknown.Raw) != frames[2] {
		t.Errorf("third event now %#v", got[2])
	}
	if end, ok := got[4].(*ari.StasisEnd); !ok || end.Channel.ID != "y" {
		t.Errorf("last event %#v", got[4])
	}
}

// A quiet stream (no call, no event) still ends at once when its context
// does or the client closes: the read waiting for the next frame is
// interrupted, and the stream's channel is closed.
func TestAQuietStreamEndsWhenItsContextEndsOrTheClientCloses(t *testing.T) {
	tests := []struct {
		name string
		end  func(cancel context.CancelFunc, client *ari.Client)
	}{
		{"context cancelled", func(cancel context.CancelFunc, _ *ari.Client) { cancel() }},
		{"client closed", func(_ context.CancelFunc, client *ari.Client) { client.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /ari/events", func(w http.ResponseWriter, r *http.Request) {
				conn, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				defer conn.CloseNow()
				<-r.Context().Done() // never a frame
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			client, err := ari.New(ari.Config{URL: srv.URL, Username: "u", Password: "p", App: "transferd"})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stream, err := client.Subscribe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // the read is waiting
			// (In a goroutine: Close waits for the stream, and a stream
			// that does not end must fail the test, not hang it.)
			go tt.end(cancel, client)
			select {
			case ev, open := <-stream:
				if open {
					t.Fatalf("event %#v after the end, want the stream closed", ev)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("stream still open 2 s after the end")
			}
			client.Close()
		})
	}
}

// Config.OnEvent sees the stream as the consumer will, in the same order:
// events, the break, the return.
func TestOnEventSeesEveryEventOfTheStreamInOrder(t *testing.T) {
	var connections atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /ari/applications/transferd/eventFilter", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /ari/events", func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		if connections.Add(1) == 1 {
			conn.Write(r.Context(), websocket.MessageText, []byte(`{"type":"StasisStart","channel":{"id":"a"}}`))
			conn.Write(r.Context(), websocket.MessageText, []byte(`{"type":"StasisEnd","channel":{"id":"a"}}`))
			conn.Close(websocket.StatusGoingAway, "restarting") // the stream breaks
			return
		}
		conn.Write(r.Context(), websocket.MessageText, []byte(`{"type":"StasisStart","channel":{"id":"b"}}`))
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var mu sync.Mutex
	var seen []string
	client, err := ari.New(ari.Config{URL: srv.URL, Username: "u", Password: "p", App: "transferd",
		OnEvent: func(ev ari.Event) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, ev.EventType())
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	stream, err := client.Subscribe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"StasisStart", "StasisEnd", "transferd.Disconnected", "transferd.Reconnected", "StasisStart"}
	var delivered []string
	timeout := time.After(10 * time.Second)
	for len(delivered) < len(want) {
		select {
		case ev := <-stream:
			delivered = append(delivered, ev.EventType())
		case <-timeout:
			t.Fatalf("delivered only %v", delivered)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(delivered, want) || !slices.Equal(seen, want) {
		t.Errorf("delivered %v, OnEvent saw %v; want both %v", delivered, seen, want)
	}
}

// A broken stream does not reconnect at once: Asterisk must tear the old
// session down before the new one registers the application, or that
// teardown deactivates the application under the new session
// (reconnectSettle).
func TestABrokenStreamReconnectsOnlyOnceAsteriskCanHaveSeenTheBreak(t *testing.T) {
	var (
		mu    sync.Mutex
		times []time.Time
	)
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /ari/applications/transferd/eventFilter", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /ari/events", func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		mu.Lock()
		times = append(times, time.Now())
		first := len(times) == 1
		mu.Unlock()
		if first {
			conn.Close(websocket.StatusGoingAway, "cut") // broken at once
			return
		}
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client, err := ari.New(ari.Config{URL: srv.URL, Username: "u", Password: "p", App: "transferd"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	stream, err := client.Subscribe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for reconnected := false; !reconnected; {
		select {
		case ev := <-stream:
			_, reconnected = ev.(*ari.Reconnected)
		case <-timeout:
			t.Fatal("no reconnect")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if gap := times[1].Sub(times[0]); gap < 200*time.Millisecond {
		t.Errorf("reconnected %s after the break; want a pause for Asterisk to tear the old session down", gap)
	}
}
