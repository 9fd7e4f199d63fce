package ari

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer is an HTTP/1.1 server written by hand, for what Asterisk's
// server or a network may do that httptest's server does not: answer with
// any bytes, close a kept-alive connection, never answer.
type rawServer struct {
	URL    string
	ln     net.Listener
	answer func(r rawRequest, conn net.Conn) (keepOpen bool)

	mu       sync.Mutex
	conns    []net.Conn
	requests []rawRequest
	closed   chan int // a connection's index, once it is closed
	wg       sync.WaitGroup
}

// rawRequest is a request as the server read it.
type rawRequest struct {
	conn, seq int // the connection (in accept order) and the request on it, from 0
	req       *http.Request
	body      string
}

// newRawServer starts a server that hands each request to answer, which
// writes the answer (or not) and says whether to keep the connection.
func newRawServer(t *testing.T, answer func(r rawRequest, conn net.Conn) (keepOpen bool)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{URL: "http://" + ln.Addr().String(), ln: ln, answer: answer, closed: make(chan int, 100)}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		n := len(s.conns)
		s.conns = append(s.conns, conn)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(n, conn)
	}
}

func (s *rawServer) serve(n int, conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		conn.Close()
		select {
		case s.closed <- n:
		default: // nobody watches that many
		}
	}()
	br := bufio.NewReader(conn)
	for seq := 0; ; seq++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		r := rawRequest{conn: n, seq: seq, req: req, body: string(body)}
		s.mu.Lock()
		s.requests = append(s.requests, r)
		s.mu.Unlock()
		if !s.answer(r, conn) {
			return
		}
	}
}

// accepted is the number of connections accepted so far.
func (s *rawServer) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *rawServer) received() []rawRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rawRequest(nil), s.requests...)
}

// waitClosed waits until connection n is closed, by either side.
func (s *rawServer) waitClosed(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case c := <-s.closed:
			if c == n {
				return
			}
		case <-timeout:
			t.Fatalf("connection %d still open after 5s", n)
		}
	}
}

const noContent = "HTTP/1.1 204 No Content\r\n\r\n"

// answerNoContent answers every request 204 and keeps the connection.
func answerNoContent(_ rawRequest, conn net.Conn) bool {
	_, err := io.WriteString(conn, noContent)
	return err == nil
}

// countingListener counts the connections a server accepts.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// startCounting starts srv, counting the connections it accepts.
func startCounting(srv *httptest.Server) *countingListener {
	l := &countingListener{Listener: srv.Listener}
	srv.Listener = l
	srv.Start()
	return l
}

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.App == "" {
		cfg.App = "transferd"
	}
	if cfg.Username == "" {
		cfg.Username, cfg.Password = "transferd", "topsecret"
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A call scenario makes dozens of requests in a row: they all travel on
// one kept-alive connection, whatever their method or answer.
func TestSequentialRequestsShareOneConnection(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch {
		case r.URL.Path == "/ari/channels/gone":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"Channel not found"}`)
		case r.Method == http.MethodGet:
			io.WriteString(w, `{"id":"A","state":"Up"}`)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	ln := startCounting(srv)
	defer srv.Close()
	c := newTestClient(t, Config{URL: srv.URL})
	ctx := context.Background()
	for i := range 50 {
		if err := c.Ring(ctx, "A"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if ch, err := c.Channel(ctx, "A"); err != nil || ch.State != "Up" {
			t.Fatalf("request %d: %+v, %v", i, ch, err)
		}
		if err := c.SetVariable(ctx, "A", "TRANSFERD", strconv.Itoa(i)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if err := c.Hangup(ctx, "gone", "normal"); !IsGone(err) {
			t.Fatalf("request %d: hangup of a vanished channel: %v", i, err)
		}
	}
	if n := ln.n.Load(); n != 1 {
		t.Errorf("200 sequential requests opened %d connections, want 1", n)
	}
}

// Requests beyond maxConns wait for a connection (or for their deadline)
// instead of opening more.
func TestRequestsBeyondMaxConnsWaitForAConnection(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		<-release
		w.WriteHeader(http.StatusNoContent)
	}))
	ln := startCounting(srv)
	defer srv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	c := newTestClient(t, Config{URL: srv.URL})

	const requests = 3 * maxConns
	errs := make(chan error, requests)
	for range requests {
		go func() { errs <- c.Ring(context.Background(), "A") }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for inFlight.Load() < maxConns && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // time for a request beyond the bound to show
	if n, open := inFlight.Load(), ln.n.Load(); n != maxConns || open != maxConns {
		t.Errorf("%d requests at once: %d reached the server on %d connections; want %d on %d", requests, n, open, maxConns, maxConns)
	}

	// A waiting request still ends at its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := c.Ring(ctx, "B"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a request waiting for a connection past its deadline: %v, want deadline exceeded", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a request waiting for a connection took %v past its 50ms deadline", took)
	}

	close(release)
	for range requests {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if open := ln.n.Load(); open > maxConns {
		t.Errorf("%d connections opened, want at most %d", open, maxConns)
	}
}

// A request Asterisk never answers ends with its context, and its
// connection, which may yet carry the late answer, is closed.
func TestUnansweredRequestEndsWithItsContext(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration // Config.Timeout
		cancel  bool          // cancel the caller's context after 50ms
		want    error
	}{
		{"cancelled", time.Minute, true, context.Canceled},
		{"timed out", 100 * time.Millisecond, false, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, func(r rawRequest, conn net.Conn) bool {
				if r.conn == 0 {
					return true // never answers
				}
				return answerNoContent(r, conn)
			})
			c := newTestClient(t, Config{URL: srv.URL, Timeout: tt.timeout})
			ctx := context.Background()
			if tt.cancel {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			start := time.Now()
			err := c.Ring(ctx, "A")
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the request took %v to end", took)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "ari: ring channel A: ") {
				t.Errorf("err = %q, want it to say what was being done", err)
			}
			srv.waitClosed(t, 0)
			if err := c.Ring(context.Background(), "A"); err != nil {
				t.Fatal(err)
			}
			if n := srv.accepted(); n != 2 {
				t.Errorf("%d connections accepted, want 2 (the interrupted one is not reused)", n)
			}
			if n := len(srv.received()); n != 2 {
				t.Errorf("server received %d requests, want 2 (no retry after a timeout or a cancel)", n)
			}
		})
	}
}

// Asterisk closes a kept-alive connection after http.conf's
// session_keep_alive; the next request goes out again on a new one, once.
func TestRequestOnAConnectionClosedWhileIdleIsSentAgain(t *testing.T) {
	srv := newRawServer(t, func(r rawRequest, conn net.Conn) bool {
		answerNoContent(r, conn)
		return r.conn != 0 // closes the first connection after its answer
	})
	c := newTestClient(t, Config{URL: srv.URL})
	ctx := context.Background()
	if err := c.Ring(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	srv.waitClosed(t, 0)
	if err := c.SetVariable(ctx, "A", "X", "1"); err != nil {
		t.Fatalf("request on a connection the server closed while idle: %v", err)
	}
	got := srv.received()
	if len(got) != 2 || got[1].conn != 1 || got[1].req.URL.RequestURI() != "/ari/channels/A/variable?value=1&variable=X" {
		t.Errorf("server received %d requests; want the second once, on a new connection: %+v", len(got), got)
	}
}

// When Asterisk restarts, every idle connection is dead: one request finds
// out and the others are dropped with it, not each found out in turn.
func TestARestartedAsteriskCostsOneRetry(t *testing.T) {
	var arrived sync.WaitGroup
	arrived.Add(3)
	srv := newRawServer(t, func(r rawRequest, conn net.Conn) bool {
		if r.conn < 3 {
			// The first three wait for each other, so the client holds
			// three connections, then all three are closed.
			arrived.Done()
			arrived.Wait()
			answerNoContent(r, conn)
			return false
		}
		return answerNoContent(r, conn)
	})
	c := newTestClient(t, Config{URL: srv.URL})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := c.Ring(context.Background(), "A"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for range 3 {
		<-srv.closed
	}
	for i := range 3 {
		if err := c.Ring(context.Background(), "A"); err != nil {
			t.Fatalf("request %d after the restart: %v", i, err)
		}
	}
	if n := srv.accepted(); n != 4 {
		t.Errorf("%d connections accepted, want 4 (3 before the restart, 1 after)", n)
	}
	if n := len(srv.received()); n != 6 {
		t.Errorf("server received %d requests, want 6", n)
	}
}

// A new connection that breaks before any answer is tried again after a
// pause (a blip, a restarting proxy), at most three times in all; an
// answer, even a broken one, is never asked for twice.
func TestBrokenConnectionsAreRetriedOnlyBeforeAnyAnswer(t *testing.T) {
	tests := []struct {
		name     string
		answer   string // to every request; the connection is then closed
		failures int    // connections closed without answer before answering
		want     string // error, "" for success
		requests int    // requests the server receives
	}{
		{"two failures then an answer", noContent, 2, "", 3},
		{"three failures", noContent, 3, `Post "http://SERVER/ari/channels/A/ring": EOF`, 3},
		{"status line cut short", "HTTP/1.1 2", 0, `Post "http://SERVER/ari/channels/A/ring": net/http: HTTP/1.x transport connection broken: malformed HTTP status code "2"`, 1},
		{"headers cut short", "HTTP/1.1 200 OK\r\nContent-Le", 0, `malformed MIME header: missing colon: "Content-Le"`, 1},
		{"body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{\"id\"", 0, "ari: ring channel A: read response: unexpected EOF", 1},
		{"garbage", "SSH-2.0-OpenSSH_9.2\r\n", 0, `malformed HTTP response "SSH-2.0-OpenSSH_9.2"`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, func(r rawRequest, conn net.Conn) bool {
				if r.conn >= tt.failures {
					io.WriteString(conn, tt.answer)
				}
				return false
			})
			c := newTestClient(t, Config{URL: srv.URL})
			err := c.Ring(context.Background(), "A")
			want := strings.ReplaceAll(tt.want, "SERVER", strings.TrimPrefix(srv.URL, "http://"))
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
				t.Errorf("err = %v, want %q", err, want)
			}
			if n := len(srv.received()); n != tt.requests {
				t.Errorf("server received %d requests, want %d", n, tt.requests)
			}
		})
	}
}

// Asterisk answers REST requests with a Content-Length, but any framing
// HTTP/1.1 allows is read correctly, and the connection kept only when
// the answer allows it.
func TestAnswersAreReadWhateverTheirFraming(t *testing.T) {
	const channel = `{"id":"td-1","state":"Up"}`
	big := `{"id":"td-1","state":"Up","name":"` + strings.Repeat("x", 24<<10) + `"}`
	chunked := func(parts ...string) string {
		var b strings.Builder
		for _, p := range parts {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
		}
		return b.String() + "0\r\n"
	}
	length := func(body string) string { return "Content-Length: " + strconv.Itoa(len(body)) + "\r\n" }
	tests := []struct {
		name   string
		answer string
		close  bool   // the server closes the connection after answering
		want   string // channel state decoded, or the error
		reuse  bool   // the next request goes on the same connection
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + length(channel) + "\r\n" + channel, false, "Up", true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(channel[:10], channel[10:]) + "\r\n", false, "Up", true},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n" + chunked(channel) + "X-Checksum: 1\r\n\r\n", false, "Up", true},
		// (Transfer-Encoding overrides Content-Length: RFC 9112 6.3.)
		{"chunked and content-length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" + chunked(channel) + "\r\n", false, "Up", true},
		{"no length: ends with the connection", "HTTP/1.1 200 OK\r\n\r\n" + channel, true, "Up", false},
		{"larger than the read buffer", "HTTP/1.1 200 OK\r\n" + length(big) + "\r\n" + big, false, "Up", true},
		{"larger than the read buffer, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(big[:5000], big[5000:]) + "\r\n", false, "Up", true},
		{"connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\n" + length(channel) + "\r\n" + channel, true, "Up", false},
		{"connection: close among tokens", "HTTP/1.1 200 OK\r\nConnection: TE, Close\r\n" + length(channel) + "\r\n" + channel, true, "Up", false},
		{"http/1.0", "HTTP/1.0 200 OK\r\n" + length(channel) + "\r\n" + channel, true, "Up", false},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n" + length(channel) + "\r\n" + channel, false, "Up", true},
		{"bare LF line ends", "HTTP/1.1 200 OK\n" + length(channel)[:len(length(channel))-2] + "\n\n" + channel, false, "Up", true},
		{"interim answer skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n" + length(channel) + "\r\n" + channel, false, "Up", true},
		{"no reason phrase", "HTTP/1.1 200\r\n" + length(channel) + "\r\n" + channel, false, "Up", true},
		{"404", "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 31\r\n\r\n{\"message\":\"Channel not found\"}", false, "ari: get channel td-1: 404 Channel not found", true},
		{"500 chunked", "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(`{"error":"Allocation failed"}`) + "\r\n", false, "ari: get channel td-1: 500 Allocation failed", true},
		{"404 without body", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false, "ari: get channel td-1: 404 Not Found", true},
		{"bad status line", "HTTP/2 200 OK\r\n\r\n", false, `malformed HTTP version "HTTP/2"`, false},
		{"bad content-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, `bad Content-Length "-1"`, false},
		{"two content-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}", false, `message cannot contain multiple Content-Length headers`, false},
		{"unknown transfer-encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, `unsupported transfer encoding: "gzip, chunked"`, false},
		{"header without colon", "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\n{}", false, `malformed MIME header: missing colon`, false},
		{"bad json", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{", false, "ari: get channel td-1: decode response: unexpected end of JSON input", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, func(r rawRequest, conn net.Conn) bool {
				if r.conn == 0 && r.seq == 0 {
					io.WriteString(conn, tt.answer)
					return !tt.close
				}
				return answerNoContent(r, conn)
			})
			c := newTestClient(t, Config{URL: srv.URL})
			ch, err := c.Channel(context.Background(), "td-1")
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = ch.State
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if tt.close {
				srv.waitClosed(t, 0)
			}
			if err := c.Ring(context.Background(), "td-1"); err != nil {
				t.Fatalf("next request: %v", err)
			}
			if reused := srv.accepted() == 1; reused != tt.reuse {
				t.Errorf("next request on the same connection: %v, want %v", reused, tt.reuse)
			}
			if n := len(srv.received()); n != 2 {
				t.Errorf("server received %d requests, want 2", n)
			}
		})
	}
}

// An answer larger than maxResponse is cut there, as before; the rest is
// left unread, so its connection is closed.
func TestAnswersAreCutAtMaxResponse(t *testing.T) {
	srv := newRawServer(t, func(r rawRequest, conn net.Conn) bool {
		if r.seq == 0 && r.conn == 0 {
			fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", maxResponse+1)
			conn.Write(bytes.Repeat([]byte(" "), maxResponse+1))
			return true
		}
		return answerNoContent(r, conn)
	})
	c := newTestClient(t, Config{URL: srv.URL})
	if err := c.Ring(context.Background(), "A"); err != nil {
		t.Fatal(err)
	}
	srv.waitClosed(t, 0)
	if err := c.Ring(context.Background(), "A"); err != nil {
		t.Fatal(err)
	}
}

// The request carries what Asterisk reads and nothing else.
func TestRequestsCarryOnlyWhatAsteriskReads(t *testing.T) {
	srv := newRawServer(t, answerNoContent)
	c := newTestClient(t, Config{URL: srv.URL + "/", Username: "transferd", Password: "topsecret"})
	ctx := context.Background()
	c.CreateChannel(ctx, ChannelCreate{ChannelID: "td-1", Endpoint: "PJSIP/102", Variables: map[string]string{"A": "b"}})
	c.Ring(ctx, "td-1")
	c.Channel(ctx, "td 1/x")
	host := strings.TrimPrefix(srv.URL, "http://")
	auth := "Basic dHJhbnNmZXJkOnRvcHNlY3JldA==" // transferd:topsecret
	want := []string{
		"POST /ari/channels/create?app=transferd&channelId=td-1&endpoint=PJSIP%2F102 HTTP/1.1 Host=" + host +
			" Authorization=" + auth + " Content-Type=application/json Content-Length=23 " + `{"variables":{"A":"b"}}`,
		"POST /ari/channels/td-1/ring HTTP/1.1 Host=" + host + " Authorization=" + auth + " Content-Length=0 ",
		"GET /ari/channels/td%201%2Fx HTTP/1.1 Host=" + host + " Authorization=" + auth + " ",
	}
	var got []string
	for _, r := range srv.received() {
		line := r.req.Method + " " + r.req.RequestURI + " " + r.req.Proto + " Host=" + r.req.Host
		for _, h := range []string{"Authorization", "Content-Type", "Content-Length"} {
			if v := r.req.Header.Get(h); v != "" {
				line += " " + h + "=" + v
			}
		}
		if len(r.req.Header) != 1+boolInt(r.req.Header.Get("Content-Type") != "")+boolInt(r.req.Header.Get("Content-Length") != "") {
			line += fmt.Sprintf(" other headers: %v", r.req.Header)
		}
		got = append(got, line+" "+r.body)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Asterisk down: the error says what was being done and comes at once
// (the two retries of a failed connection take 250ms in all).
func TestConnectionRefusedFailsFastAndSaysWhatWasBeingDone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newTestClient(t, Config{URL: "http://" + addr, Password: "topsecret"})
	start := time.Now()
	err = c.Answer(context.Background(), "td-1")
	took := time.Since(start)
	want := `ari: answer channel td-1: Post "http://` + addr + `/ari/channels/td-1/answer": dial tcp ` + addr + `: connect: connection refused`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	if strings.Contains(fmt.Sprint(err), "topsecret") {
		t.Errorf("the password is in the error: %v", err)
	}
	if took > time.Second {
		t.Errorf("a refused connection took %v to report", took)
	}
}

// Close closes the idle connections; a later request still works, on a
// connection of its own.
func TestCloseClosesIdleConnections(t *testing.T) {
	srv := newRawServer(t, answerNoContent)
	c := newTestClient(t, Config{URL: srv.URL})
	if err := c.Ring(context.Background(), "A"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.waitClosed(t, 0)
	if err := c.Ring(context.Background(), "A"); err != nil {
		t.Fatalf("request after Close: %v", err)
	}
	srv.waitClosed(t, 1)
}

// The pool of kept-alive connections is bounded, keeps them all when
// busy, and shrinks back after a burst (IdleConnTimeout, below Asterisk's
// session_keep_alive of 15 s at most: a request rarely races Asterisk's
// close).
func TestTransportKeepsABoundedPoolThatShrinks(t *testing.T) {
	c := newTestClient(t, Config{URL: "http://127.0.0.1:1"})
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is a %T", c.http.Transport)
	}
	if tr.MaxConnsPerHost != maxConns || tr.MaxIdleConnsPerHost != maxConns || tr.IdleConnTimeout != IdleConnTimeout || IdleConnTimeout > 15*time.Second {
		t.Errorf("MaxConnsPerHost %d, MaxIdleConnsPerHost %d, IdleConnTimeout %s; want %d, %d, %s (at most 15 s)",
			tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, maxConns, maxConns, IdleConnTimeout)
	}
}

func BenchmarkRequest(b *testing.B) {
	benchmarkRequest(b, (*Client).do)
}

func benchmarkRequest(b *testing.B, do func(c *Client, ctx context.Context, op, id, method, path string, query url.Values, body, out any) error) {
	const answer = `{"id":"td-1","name":"PJSIP/102-00000001","state":"Down","caller":{"name":"","number":""},"dialplan":{"context":"transferd","exten":"s","priority":1}}`
	servers := []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"httptest", func(b *testing.B) string {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, answer)
			}))
			b.Cleanup(srv.Close)
			return srv.URL
		}},
		{"canned", func(b *testing.B) string { return cannedServer(b, answer) }},
	}
	q := url.Values{"endpoint": {"PJSIP/102"}, "app": {"transferd"}, "channelId": {"td-1"}}
	body := map[string]any{"variables": map[string]string{"PJSIP_TRANSFER_HANDLING()": "ari-only"}}
	// A cancellable context, as a call's is: cancelling it must be able
	// to interrupt the request.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	request := func(c *Client) error {
		var ch Channel
		return do(c, ctx, "create channel", "td-1", http.MethodPost, "/channels/create", q, body, &ch)
	}
	client := func(b *testing.B, url string) *Client {
		c, err := New(Config{URL: url, Username: "transferd", Password: "secret", App: "transferd"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	for _, s := range servers {
		b.Run(s.name, func(b *testing.B) {
			c := client(b, s.url(b))
			b.ReportAllocs()
			for b.Loop() {
				if err := request(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// Many calls at once, as under load: 16 requests in flight per CPU.
	b.Run("canned-parallel", func(b *testing.B) {
		c := client(b, cannedServer(b, answer))
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := request(c); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// cannedServer answers every request with the same 200 JSON answer,
// allocating nothing per request, and returns its URL.
func cannedServer(tb testing.TB, answer string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(answer)) + "\r\n\r\n" + answer)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					length := 0
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						line = bytes.TrimRight(line, "\r\n")
						if len(line) == 0 {
							break
						}
						if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
							length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
						}
					}
					if _, err := br.Discard(length); err != nil {
						return
					}
					if _, err := conn.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	})
	return "http://" + ln.Addr().String()
}
