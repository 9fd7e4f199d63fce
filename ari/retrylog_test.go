package ari

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// An Asterisk that refuses connections, then answers with a wrong
// password, then a wrong URL: each kind of failure is told once at warn
// or error level with what to change, its repeats only at debug level;
// once connected it is said how long it took, and the next failure is
// told again.
func TestRetryLogTellsEachKindOfFailureOnce(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	retries := NewRetryLog(zap.New(core), "http://pbx:8088")
	fail := func(url string) error {
		c, err := New(Config{URL: url, Username: "u", Password: "p", App: "transferd", Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Subscribe(context.Background())
		if err == nil {
			t.Fatalf("subscribing at %s worked", url)
		}
		return err
	}
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()
	answering := func(status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	unauthorized, notFound := answering(http.StatusUnauthorized), answering(http.StatusNotFound)

	for range 3 {
		retries.Failed(fail(refused), time.Second)
	}
	for range 2 {
		retries.Failed(fail(unauthorized), time.Second)
		retries.Failed(fail(notFound), time.Second)
	}
	told := func() []string {
		var msgs []string
		for _, e := range logs.TakeAll() {
			if e.Level > zapcore.DebugLevel {
				msgs = append(msgs, e.Level.String()+": "+e.Message)
			}
		}
		return msgs
	}
	want := []string{"warn: Asterisk refuses connections", "error: Asterisk refuses transferd's ARI username or password", "error: Asterisk has no ARI event WebSocket at this URL"}
	got := told()
	if len(got) != len(want) {
		t.Fatalf("told %q, want one line each starting %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d: %q, want it to start %q", i, got[i], want[i])
		}
	}

	retries.Connected()
	retries.Failed(fail(refused), time.Second)
	got = told()
	if len(got) != 2 || !strings.HasPrefix(got[0], "info: connected to Asterisk") || !strings.HasPrefix(got[1], "warn: Asterisk refuses connections") {
		t.Errorf("after connecting, then refused: told %q; want the connection, then the refusal again", got)
	}
}
