package ari

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// restPool sends REST requests to Asterisk over plain http:// with a
// small HTTP/1.1 client of its own: a bounded set of kept-alive
// connections, each carrying one request at a time, all the work done by
// the calling goroutine.
//
// Why not net/http: its Transport runs a read and a write goroutine per
// connection and hands every request and response between them and the
// caller. Under load (about 39 REST requests per call scenario) that
// machinery, with the scheduler wake-ups it causes, was some 40 % of
// transferd's CPU. Asterisk's HTTP server needs little of it: it speaks
// HTTP/1.1 with keep-alive and answers REST requests with a
// Content-Length, one answer per request, in order. TLS (https://) stays
// on net/http, which does it well.
type restPool struct {
	addr   string // host:port to dial
	host   string // Host header, as in the configured URL
	origin string // "http://host", for error messages
	auth   string // Authorization header value
	log    *zap.Logger
	dialer net.Dialer

	// slots holds a token for every request in flight, so at most
	// maxConns requests hold a connection. A request dials only when no
	// connection is idle, hence never more than maxConns are open.
	slots chan struct{}

	mu     sync.Mutex
	idle   []*restConn // the most recently used last
	closed bool        // Close was called: connections are no longer kept
}

// restConn is one connection to Asterisk and its buffers, reused from
// request to request.
type restConn struct {
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	reused    bool      // it carried a request before this one
	idleSince time.Time // when it went back to the pool
	interrupt func()    // unblocks a read or write in progress
}

const (
	// maxResponse bounds the body read from one answer (the largest,
	// a list of every channel, stays far below it).
	maxResponse = 4 << 20
	// readBufferSize lets most of Asterisk's answers (a channel's JSON is
	// under 1 KiB) be decoded straight from the connection's buffer.
	readBufferSize  = 8 << 10
	writeBufferSize = 4 << 10
	// maxHeadBytes bounds a response's status line and headers; Asterisk
	// sends a few hundred bytes.
	maxHeadBytes = 64 << 10
)

// aLongTimeAgo is a deadline in the past: setting it interrupts a blocked
// read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

func newRestPool(u *url.URL, auth string, log *zap.Logger) *restPool {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &restPool{
		addr:   addr,
		host:   u.Host,
		origin: "http://" + u.Host,
		auth:   auth,
		log:    log,
		// As http.DefaultTransport's dialer: TCP keep-alive probes find
		// a connection whose peer vanished without a word.
		dialer: net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		slots:  make(chan struct{}, maxConns),
		idle:   make([]*restConn, 0, maxConns),
	}
}

// answer is Asterisk's response to one REST request.
type answer struct {
	status int    // 0 when no response head arrived
	body   []byte // at most maxResponse bytes
	// While rc is set, body may lie in rc's read buffer: done hands rc
	// back to the pool once the body has been used.
	pool *restPool
	rc   *restConn
}

// done releases the connection the answer was read from. body must not be
// used afterwards.
func (a *answer) done() {
	if a.rc != nil {
		a.pool.put(a.rc, true)
		a.rc = nil
	}
}

// send sends one request (uri is the path and query) and reads the answer.
// deadline bounds the whole request, waiting and retries included; ctx's
// cancellation interrupts it.
//
// A request that failed before any byte of an answer arrived is sent
// again, at most twice: on a connection that had been idle the failure is
// the usual race with the server closing it (Asterisk does after http.conf's
// session_keep_alive, 15 s by default), and the request goes out again at
// once, as net/http does; a new connection that failed (a network blip, a
// restarting proxy) is retried after 50 ms, then 200 ms. Once Asterisk has
// answered anything the request is never sent again.
func (p *restPool) send(ctx context.Context, deadline time.Time, method, uri string, body []byte) (answer, error) {
	if err := validURI(uri); err != nil {
		return answer{}, p.urlError(method, uri, err)
	}
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		// A request whose caller gave up is not sent (an AfterFunc
		// would race the write).
		if err := ctx.Err(); err != nil {
			return answer{}, p.urlError(method, uri, err)
		}
		rc, err := p.get(ctx, deadline)
		reused := false
		if err == nil {
			reused = rc.reused
			var a answer
			var answered bool
			a, answered, err = p.exchange(ctx, deadline, rc, method, uri, body)
			switch {
			case err == nil:
				return a, nil
			case a.status != 0:
				// The head arrived; the body did not.
				return a, fmt.Errorf("read response: %w", err)
			case answered:
				return answer{}, p.urlError(method, uri, err)
			}
		}
		if attempt == 3 || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return answer{}, p.urlError(method, uri, err)
		}
		p.log.Debug("ari: retrying after a broken connection", zap.Error(err), zap.String("method", method),
			zap.String("path", pathOf(uri)), zap.Bool("reused", reused))
		if reused {
			continue
		}
		if !sleep(ctx, deadline, wait) {
			// The last failure says more than "deadline exceeded".
			return answer{}, p.urlError(method, uri, err)
		}
		wait *= 4
	}
}

// sleep waits for d, false when ctx or deadline ends first.
func sleep(ctx context.Context, deadline time.Time, d time.Duration) bool {
	if time.Until(deadline) <= d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// get returns a connection for one request, waiting while maxConns
// requests are in flight: an idle one, else a new one.
func (p *restPool) get(ctx context.Context, deadline time.Time) (*restConn, error) {
	select {
	case p.slots <- struct{}{}:
	default:
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, context.DeadlineExceeded
		}
	}
	if rc := p.takeIdle(time.Now()); rc != nil {
		return rc, nil
	}
	d := p.dialer
	d.Deadline = deadline
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		<-p.slots
		return nil, ctxErr(ctx, deadline, err)
	}
	return &restConn{
		nc:        nc,
		br:        bufio.NewReaderSize(nc, readBufferSize),
		bw:        bufio.NewWriterSize(nc, writeBufferSize),
		interrupt: func() { nc.SetDeadline(aLongTimeAgo) },
	}, nil
}

// takeIdle returns the most recently used idle connection, closing those
// idle longer than IdleConnTimeout: they would be at risk of Asterisk
// closing them as the request goes out, and the pool shrinks back after a
// burst.
func (p *restPool) takeIdle(now time.Time) *restConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	expired := 0
	for expired < len(p.idle) && now.Sub(p.idle[expired].idleSince) > IdleConnTimeout {
		p.idle[expired].nc.Close()
		expired++
	}
	p.idle = slices.Delete(p.idle, 0, expired)
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	rc := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return rc
}

// put ends a request on rc: the connection goes back to the pool when
// reusable, else it is closed. Either way a waiting request may proceed.
func (p *restPool) put(rc *restConn, reusable bool) {
	if reusable && rc.br.Buffered() == 0 {
		rc.reused = true
		rc.idleSince = time.Now()
		p.mu.Lock()
		if !p.closed {
			p.idle = append(p.idle, rc)
			rc = nil
		}
		p.mu.Unlock()
	}
	if rc != nil {
		rc.nc.Close()
	}
	// (After the connection is back: see slots.)
	<-p.slots
}

// dropIdleSince closes the idle connections that have been idle since t
// or longer: when one of that age turned out closed by Asterisk (restarted,
// or ending idle sessions), the others are too.
func (p *restPool) dropIdleSince(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(p.idle) && !p.idle[n].idleSince.After(t) {
		p.idle[n].nc.Close()
		n++
	}
	p.idle = slices.Delete(p.idle, 0, n)
}

// close closes the idle connections and keeps none from now on; requests
// still work, each on a connection of its own.
func (p *restPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, rc := range idle {
		rc.nc.Close()
	}
}

// exchange sends one request on rc and reads the answer. It takes rc: on
// success the answer holds it or it is closed, on failure it is closed.
// answered tells whether any byte of an answer arrived.
func (p *restPool) exchange(ctx context.Context, deadline time.Time, rc *restConn, method, uri string, body []byte) (a answer, answered bool, err error) {
	// The deadline bounds every read and write; a cancellation of ctx
	// interrupts the one blocked. The timer behind SetDeadline is the
	// runtime poller's: no goroutine waits here.
	rc.nc.SetDeadline(deadline)
	stop := noStop
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, rc.interrupt)
	}
	a, answered, keepAlive, err := roundTrip(rc, method, uri, p.host, p.auth, body)
	if !stop() {
		// Interrupted, or about to be: the deadline is no longer ours.
		keepAlive = false
	}
	if err != nil {
		err = ctxErr(ctx, deadline, err)
		if rc.reused && !answered && err != context.DeadlineExceeded && err != context.Canceled {
			p.dropIdleSince(rc.idleSince)
		}
		p.put(rc, false)
		return answer{status: a.status}, answered, err
	}
	if keepAlive {
		a.pool, a.rc = p, rc
	} else {
		// (A body in rc's buffer stays valid: nothing reads it again.)
		p.put(rc, false)
	}
	return a, true, nil
}

func noStop() bool { return true }

// roundTrip writes a request on rc and reads the answer: the I/O alone.
func roundTrip(rc *restConn, method, uri, host, auth string, body []byte) (a answer, answered, keepAlive bool, err error) {
	writeRequest(rc.bw, method, uri, host, auth, body)
	if err := rc.bw.Flush(); err != nil {
		return answer{}, false, false, err
	}
	// Nothing of an answer yet: a failure up to here may be retried.
	if _, err := rc.br.Peek(1); err != nil {
		return answer{}, false, false, err
	}
	h, err := readHead(rc.br)
	if err != nil {
		return answer{}, true, false, err
	}
	a.status = h.status
	a.body, keepAlive, err = readBody(rc.br, h)
	return a, true, keepAlive, err
}

// ctxErr is ctx's error when ctx ended, DeadlineExceeded when the
// deadline passed (the I/O deadline firing), else err.
func ctxErr(ctx context.Context, deadline time.Time, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return err
}

// writeRequest writes the request into w; the caller flushes it, so it
// goes out in one write when it fits w's buffer. Asterisk reads Host,
// Authorization (ARI's basic auth) and, for a body, Content-Type and
// Content-Length; nothing else is sent.
func writeRequest(w *bufio.Writer, method, uri, host, auth string, body []byte) {
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\nAuthorization: ")
	w.WriteString(auth)
	w.WriteString("\r\n")
	if body != nil {
		w.WriteString("Content-Type: application/json\r\n")
	}
	// A POST, PUT or PATCH without a body says so, as net/http does
	// (RFC 9110 §8.6: a server may want a length for them).
	if body != nil || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(len(body)), 10))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	w.Write(body)
}

// validURI refuses a request target that would break the request line:
// ids are path-escaped and queries encoded, so this is a bug's symptom.
func validURI(uri string) error {
	if uri == "" || uri[0] != '/' {
		return errors.New("invalid request target")
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c == 0x7f {
			return errors.New("invalid request target")
		}
	}
	return nil
}

// urlError says which request failed as net/http does, e.g.
// `Post "http://127.0.0.1:8088/ari/channels": dial tcp ...: connection refused`.
func (p *restPool) urlError(method, uri string, err error) error {
	op := method
	if len(op) > 1 {
		op = op[:1] + strings.ToLower(op[1:])
	}
	return &url.Error{Op: op, URL: p.origin + uri, Err: err}
}

// pathOf is uri without its query.
func pathOf(uri string) string {
	path, _, _ := strings.Cut(uri, "?")
	return path
}

// head is what the client needs of a response head (RFC 9112 §4–6).
type head struct {
	status    int
	length    int64 // -1 when no Content-Length
	chunked   bool
	keepAlive bool // the connection may carry another request
}

// readHead reads a status line and headers, skipping interim (1xx)
// responses, which Asterisk does not send anyway.
func readHead(br *bufio.Reader) (head, error) {
	budget := maxHeadBytes
	line := func() ([]byte, error) {
		l, err := br.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				err = errors.New("response header line too long")
			} else if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if budget -= len(l); budget < 0 {
			return nil, errors.New("response head too large")
		}
		// Lines end in CRLF; a bare LF is tolerated (RFC 9112 §2.2).
		l = l[:len(l)-1]
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
		return l, nil
	}
	for {
		l, err := line()
		if err != nil {
			return head{}, err
		}
		// HTTP/1.x SP 3DIGIT [SP reason]
		if len(l) < 12 || string(l[:7]) != "HTTP/1." || l[7] < '0' || l[7] > '9' || l[8] != ' ' ||
			len(l) > 12 && l[12] != ' ' {
			return head{}, fmt.Errorf("malformed HTTP status line %q", truncate(l))
		}
		status := 0
		for _, c := range l[9:12] {
			if c < '0' || c > '9' {
				return head{}, fmt.Errorf("malformed HTTP status line %q", truncate(l))
			}
			status = status*10 + int(c-'0')
		}
		if status < 100 {
			return head{}, fmt.Errorf("malformed HTTP status line %q", truncate(l))
		}
		h := head{status: status, length: -1}
		http11 := l[7] != '0'
		connClose, connKeepAlive := false, false
		for {
			l, err := line()
			if err != nil {
				return head{}, err
			}
			if len(l) == 0 {
				break
			}
			if l[0] == ' ' || l[0] == '\t' {
				continue // obsolete line folding of a header we do not read
			}
			name, value, ok := cutByte(l, ':')
			if !ok {
				return head{}, fmt.Errorf("malformed HTTP response header %q", truncate(l))
			}
			value = trimOWS(value)
			switch {
			case equalFold(name, "content-length"):
				n, ok := parseLength(value)
				if !ok || h.length >= 0 && n != h.length {
					return head{}, fmt.Errorf("bad Content-Length %q", truncate(value))
				}
				h.length = n
			case equalFold(name, "transfer-encoding"):
				if !equalFold(value, "chunked") {
					return head{}, fmt.Errorf("unsupported Transfer-Encoding %q", truncate(value))
				}
				h.chunked = true
			case equalFold(name, "connection"):
				for len(value) > 0 {
					var token []byte
					token, value, _ = cutByte(value, ',')
					token = trimOWS(token)
					connClose = connClose || equalFold(token, "close")
					connKeepAlive = connKeepAlive || equalFold(token, "keep-alive")
				}
			}
		}
		if status >= 100 && status <= 199 && status != http.StatusSwitchingProtocols {
			continue
		}
		// RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only
		// with "keep-alive".
		h.keepAlive = !connClose && (http11 || connKeepAlive)
		if h.chunked && h.length >= 0 {
			// RFC 9112 §6.3: chunked wins, and the connection is closed.
			h.length, h.keepAlive = -1, false
		}
		return h, nil
	}
}

// readBody reads the body h announces (RFC 9112 §6.3; the client sends no
// HEAD requests), at most maxResponse bytes. A body that fits br's buffer
// is returned in place: it stays valid until br is read again.
func readBody(br *bufio.Reader, h head) (body []byte, keepAlive bool, err error) {
	switch {
	case h.status < 200:
		// 101 Switching Protocols: what follows is not HTTP.
		return nil, false, nil
	case h.status == http.StatusNoContent || h.status == http.StatusNotModified:
		return nil, h.keepAlive, nil
	case h.chunked:
		body, err = io.ReadAll(io.LimitReader(httputil.NewChunkedReader(br), maxResponse+1))
		if err != nil {
			return nil, false, err
		}
		if len(body) > maxResponse {
			return body[:maxResponse], false, nil
		}
		// The trailer section, ended by an empty line (RFC 9112 §7.1.2).
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				return nil, false, err
			}
			if len(l) == 1 || len(l) == 2 && l[0] == '\r' {
				return body, h.keepAlive, nil
			}
		}
	case h.length < 0:
		// Delimited by the server closing the connection.
		body, err = io.ReadAll(io.LimitReader(br, maxResponse))
		return body, false, err
	case h.length <= int64(br.Size()):
		body, err = br.Peek(int(h.length))
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
		br.Discard(len(body))
		return body, h.keepAlive, nil
	default:
		n := min(h.length, maxResponse)
		body = make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, false, err
		}
		return body, h.keepAlive && n == h.length, nil
	}
}

func cutByte(b []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// trimOWS trims optional whitespace (RFC 9110 §5.6.3).
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with lower-case ASCII s, ignoring b's case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// parseLength parses a Content-Length: digits only, below 2^62.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// truncate keeps error messages about garbage short.
func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
