package ari_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/transferd/transferd/ari"
)

// A controller's skeleton: connect, follow the application's events in
// order, and act with REST calls. The fake Asterisk below stands in for a
// real one (http://127.0.0.1:8088 with an ari.conf user) so the example
// runs anywhere.
func Example() {
	asterisk := fakeAsterisk()
	defer asterisk.Close()

	client, err := ari.New(ari.Config{URL: asterisk.URL, Username: "transferd", Password: "secret", App: "transferd"})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	info, err := client.Info(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected to Asterisk", info.System.Version)

	events, err := client.Subscribe(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for ev := range events {
		switch ev := ev.(type) {
		case *ari.StasisStart:
			fmt.Printf("%s dialled %s\n", ev.Channel.Caller.Number, ev.Channel.Dialplan.Exten)
			if err := client.Answer(ctx, ev.Channel.ID); err != nil {
				log.Fatal(err)
			}
			fmt.Println("answered", ev.Channel.ID)
		case *ari.ChannelTransfer:
			fmt.Println("REFER to", ev.ReferTo.RequestedDestination.Destination)
			cancel() // enough for an example
		case *ari.Disconnected, *ari.Reconnected:
			// Reconcile with what Asterisk holds after a gap.
		}
	}
	// Output:
	// connected to Asterisk 22.10.1
	// 101 dialled 102
	// answered 1700000000.1
	// REFER to 103
}

// fakeAsterisk answers the few requests the example makes, like Asterisk
// 22 does.
func fakeAsterisk() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ari/asterisk/info", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"system":{"version":"22.10.1","entity_id":"00:00:00:00:00:01"}}`)
	})
	mux.HandleFunc("POST /ari/channels/{id}/answer", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /ari/events", func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		for _, frame := range []string{
			`{"type":"StasisStart","application":"transferd","timestamp":"2026-11-25T10:00:00.000+0000","args":[],"channel":{"id":"1700000000.1","name":"PJSIP/101-00000001","state":"Ring","caller":{"name":"Phone 101","number":"101"},"dialplan":{"context":"transferd","exten":"102","priority":2}}}`,
			`{"type":"ChannelTransfer","application":"transferd","timestamp":"2026-11-25T10:00:05.000+0000","refer_to":{"requested_destination":{"destination":"103"}},"referred_by":{"source_channel":{"id":"1700000000.1","name":"PJSIP/101-00000001","state":"Up"}}}`,
		} {
			if err := conn.Write(r.Context(), websocket.MessageText, []byte(frame)); err != nil {
				return
			}
		}
		<-r.Context().Done()
	})
	return httptest.NewServer(mux)
}

// Close stops the event stream and every goroutine the client started.
func TestCloseLeavesNoGoroutineBehind(t *testing.T) {
	asterisk := fakeAsterisk()
	defer asterisk.Close()
	client, err := ari.New(ari.Config{URL: asterisk.URL, Username: "u", Password: "p", App: "transferd"})
	if err != nil {
		t.Fatal(err)
	}
	events, err := client.Subscribe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	<-events // the stream runs
	client.Close()
	for range events {
		// drained: Close closes the stream
	}
	deadline := time.Now().Add(2 * time.Second)
	for clientGoroutines() != "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if left := clientGoroutines(); left != "" {
		t.Errorf("client goroutines after Close:\n%s", left)
	}
}

// clientGoroutines returns the stacks of goroutines running the client's
// code (the fake server's own goroutines do not count).
func clientGoroutines() string {
	buf := make([]byte, 1<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "transferd/ari.(*Client)") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// ARI over TLS (https:// and wss://): REST and events both use Config.TLS.
func TestTLS(t *testing.T) {
	asterisk := fakeAsteriskTLS()
	defer asterisk.Close()
	pool := x509.NewCertPool()
	pool.AddCert(asterisk.Certificate())
	client, err := ari.New(ari.Config{URL: asterisk.URL, Username: "u", Password: "p", App: "transferd", TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	if info, err := client.Info(ctx); err != nil || info.System.Version == "" {
		t.Fatalf("info over https: %+v, %v", info, err)
	}
	events, err := client.Subscribe(ctx)
	if err != nil {
		t.Fatalf("subscribe over wss: %v", err)
	}
	if ev := <-events; ev.EventType() != "StasisStart" {
		t.Errorf("first event over wss: %s", ev.EventType())
	}
	// An untrusted certificate is refused.
	bad, _ := ari.New(ari.Config{URL: asterisk.URL, Username: "u", Password: "p", App: "transferd"})
	defer bad.Close()
	if _, err := bad.Info(ctx); err == nil {
		t.Error("an untrusted certificate was accepted")
	}
}

func fakeAsteriskTLS() *httptest.Server {
	plain := fakeAsterisk()
	handler := plain.Config.Handler
	plain.Close()
	return httptest.NewTLSServer(handler)
}
