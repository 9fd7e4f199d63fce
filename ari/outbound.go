package ari

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"
)

// Outbound mode (Asterisk 22.5+, ari.conf "type = outbound_websocket" with
// a persistent websocket_client): Asterisk connects to the application,
// not the other way round, and keeps the application registered while the
// connection is down; events are queued and replayed when it reconnects.
// REST requests travel over the same connection (Asterisk 22.4+:
// RESTRequest and RESTResponse frames), so the application needs no HTTP
// path to Asterisk at all. Only one connection serves an application at a
// time: a newer one replaces the older.
//
// Facts from Asterisk's source (res/ari/ari_websockets.c,
// ari_websocket_requests.c, res_http_websocket.c at 22.11.0-rc1):
//   - the upgrade request carries Basic auth from websocket_client.conf's
//     username and password, and Sec-WebSocket-Protocol only when
//     "protocols" is set; a reply with any Sec-WebSocket-Extensions fails
//     the handshake (so no compression);
//   - a RESTRequest's uri is relative to /ari, without a leading slash;
//     its body is a JSON string with a content_type; the RESTResponse
//     carries status_code and the body as a string, and responses come in
//     request order, possibly between events;
//   - responses pass the application's event filter: an allow-list must
//     name RESTResponse.

// outboundLink is the connection Asterisk keeps to the application, as
// the Client's REST transport and event source.
type outboundLink struct {
	cfg      Config
	log      *zap.Logger
	events   chan Event
	nextID   atomic.Uint64
	pingGap  time.Duration
	pingWait time.Duration

	stop    chan struct{} // closed by close
	readers sync.WaitGroup
	pumped  chan struct{} // closed when pump has returned

	// queue holds events read but not yet taken by the stream's reader:
	// the connection's reader never waits for the stream, as REST answers
	// arrive on the same connection (an engine adopting calls before it
	// reads events would otherwise wait for answers stuck behind them).
	queueMu    sync.Mutex
	queue      []Event
	queueReady chan struct{}
	// inPump: events the pump took from the queue and has not yet
	// handed to the stream's reader.
	inPump atomic.Int64

	mu      sync.Mutex
	conn    *outboundConn
	up      chan struct{} // closed while a connection is up
	ever    bool          // a connection has been up
	closed  bool
	pending map[string]chan restResponse
}

// outboundConn is one of Asterisk's connections.
type outboundConn struct {
	ws        *websocket.Conn
	done      chan struct{} // closed when the connection is gone
	err       error         // why, once done
	heard     chan struct{} // closed when Asterisk's first frame arrived
	heardOnce sync.Once
}

// firstFrameWait bounds how long a new connection waits for Asterisk's
// first frame before requests go out anyway.
//
// Why wait at all: Asterisk reads the upgrade's response through a
// buffered stream, then polls the socket for frames. A request sent right
// after the upgrade arrived with that response, sat in the buffer, and was
// read only when the next packet woke the poll (Asterisk's own ping, a
// second later: every first request on a new connection took exactly 1 s,
// seen in the end-to-end tests). Asterisk writes its queued events and
// ApplicationRegistered as soon as it is connected, after it has read the
// response, so its first frame says it is safe to send.
const firstFrameWait = 200 * time.Millisecond

// restResponse is what transferd reads of Asterisk's answer frame to a
// RESTRequest (its type was checked on the raw frame).
type restResponse struct {
	RequestID   string `json:"request_id"`
	StatusCode  int    `json:"status_code"`
	MessageBody string `json:"message_body"`
}

// restRequest is a REST request sent over the connection.
type restRequest struct {
	Type        string `json:"type"`
	RequestID   string `json:"request_id"`
	Method      string `json:"method"`
	URI         string `json:"uri"`
	ContentType string `json:"content_type,omitempty"`
	MessageBody string `json:"message_body,omitempty"`
}

// ErrNotConnected: in outbound mode, Asterisk is not connected and did not
// connect within the request's time.
var ErrNotConnected = errors.New("ari: Asterisk is not connected (outbound websocket)")

// Default dead-peer detection for outbound connections: a ping every
// pingGap, answered within pingWait, or the connection is closed and
// Asterisk reconnects (to this or another replica).
const (
	defaultPingGap  = 2 * time.Second
	defaultPingWait = 2 * time.Second
)

// newOutbound returns a client in outbound mode: nothing connects until
// Asterisk does, through OutboundHandler.
func newOutbound(cfg Config) (*Client, error) {
	cfg, log, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("ari: outbound mode needs the username and password Asterisk connects with")
	}
	c := &Client{cfg: cfg, log: log}
	if cfg.RESTOverHTTP {
		if c, err = newHTTPClient(cfg); err != nil {
			return nil, fmt.Errorf("ari: REST over HTTP in outbound mode: %w", err)
		}
	}
	c.link = newOutboundLink(cfg, log)
	return c, nil
}

// admitted waits, as a request over the connection would, until Asterisk
// is connected to this client, when REST goes over HTTP in outbound mode:
// a replica whose connection went to another must not act on the calls
// that one now serves. Other clients are always admitted.
func (c *Client) admitted(ctx context.Context, deadline time.Time) error {
	if c.link == nil {
		return nil
	}
	return c.link.admit(ctx, deadline)
}

// admit waits until Asterisk is connected (ErrNotConnected at deadline, or
// at once once the link is closed).
func (l *outboundLink) admit(ctx context.Context, deadline time.Time) error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrNotConnected
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	_, err := l.waitUp(ctx)
	return err
}

// OutboundHandler is the handler Asterisk's outbound WebSocket connects
// to (mount it at the path of websocket_client.conf's uri); nil for a
// client that connects to Asterisk itself.
func (c *Client) OutboundHandler() http.Handler {
	if c.link == nil {
		return nil
	}
	return c.link
}

// WaitConnected waits until Asterisk's outbound connection is up (at once
// for a client that connects to Asterisk itself).
func (c *Client) WaitConnected(ctx context.Context) error {
	if c.link == nil {
		return nil
	}
	_, err := c.link.waitUp(ctx)
	return err
}

func newOutboundLink(cfg Config, log *zap.Logger) *outboundLink {
	l := &outboundLink{cfg: cfg, log: log, events: make(chan Event, 64), up: make(chan struct{}), stop: make(chan struct{}),
		pumped: make(chan struct{}), queueReady: make(chan struct{}, 1),
		pingGap: defaultPingGap, pingWait: defaultPingWait, pending: map[string]chan restResponse{}}
	if cfg.PingInterval > 0 {
		l.pingGap, l.pingWait = cfg.PingInterval, cfg.PingInterval
	}
	go l.pump()
	return l
}

// pump moves queued events to the stream, in order.
func (l *outboundLink) pump() {
	defer close(l.pumped)
	var batch []Event
	for {
		select {
		case <-l.queueReady:
		case <-l.stop:
			return
		}
		l.queueMu.Lock()
		batch, l.queue = l.queue, batch[:0]
		l.inPump.Store(int64(len(batch)))
		l.queueMu.Unlock()
		for _, ev := range batch {
			select {
			case l.events <- ev:
				l.inPump.Add(-1)
			case <-l.stop:
				return
			}
		}
		clear(batch)
	}
}

// Authorized reports whether r carries Basic auth with username and
// password, as Asterisk's outbound WebSocket does (websocket_client.conf):
// a server that must know before it hands r to an OutboundHandler.
func Authorized(r *http.Request, username, password string) bool {
	user, pass, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(user), []byte(username)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(password)) == 1
}

// ServeHTTP accepts Asterisk's outbound WebSocket: Basic auth with the
// client's Username and Password, the "ari" subprotocol when offered.
func (l *outboundLink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !Authorized(r, l.cfg.Username, l.cfg.Password) {
		user, _, _ := r.BasicAuth()
		l.log.Warn("ari: outbound websocket refused: wrong or missing credentials (websocket_client.conf username/password must match ari.username/ari.password)",
			zap.String("remote", r.RemoteAddr), zap.String("user", user))
		w.Header().Set("WWW-Authenticate", `Basic realm="transferd"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:    []string{"ari"},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		l.log.Warn("ari: outbound websocket upgrade failed", zap.String("remote", r.RemoteAddr), zap.Error(err))
		return
	}
	ws.SetReadLimit(maxResponse)
	c := &outboundConn{ws: ws, done: make(chan struct{}), heard: make(chan struct{})}
	if !l.attach(c) {
		ws.Close(websocket.StatusGoingAway, "transferd is stopping")
		return
	}
	l.log.Info("ari: Asterisk connected (outbound websocket)", zap.String("remote", r.RemoteAddr))
	// The handler's goroutine serves the connection until it ends: r's
	// context ends with it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.keepAlive(ctx, c)
	go l.openWhenHeard(c)
	err = l.read(c)
	l.detach(c, err)
	l.readers.Done()
}

// attach makes c the connection (a newer one replaces the older, as in
// Asterisk) and tells the stream.
func (l *outboundLink) attach(c *outboundConn) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.readers.Add(1)
	old, again := l.conn, l.ever
	l.conn, l.ever = c, true
	select {
	case <-l.up:
		l.up = make(chan struct{}) // (not open for requests yet: openWhenHeard)
	default:
	}
	l.mu.Unlock()
	if old != nil {
		old.ws.Close(websocket.StatusGoingAway, "replaced by a newer connection")
	}
	if again {
		// (Also when c replaced a live connection: what the old one was
		// still writing may be lost, so the engine reconciles.)
		l.deliver(&Reconnected{})
	}
	return true
}

// openWhenHeard opens c for requests once Asterisk's first frame arrived,
// or after firstFrameWait (see there).
func (l *outboundLink) openWhenHeard(c *outboundConn) {
	select {
	case <-c.heard:
	case <-time.After(firstFrameWait):
	case <-c.done:
		return
	}
	l.mu.Lock()
	current := l.conn == c
	if current {
		select {
		case <-l.up:
		default:
			close(l.up)
		}
	}
	l.mu.Unlock()
	if current && len(l.cfg.Events) > 0 {
		l.setFilter()
	}
}

// setFilter sets the application's event filter over the new connection
// (responses must pass it: RESTResponse is allowed too).
func (l *outboundLink) setFilter() {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
	defer cancel()
	cfg := l.cfg
	cfg.RESTOverHTTP = false
	c := &Client{cfg: cfg, link: l, log: l.log}
	// (Over this connection, whatever the client's REST transport: the
	// filter is this connection's.)
	if err := c.FilterEvents(ctx, l.cfg.App, append(append([]string(nil), l.cfg.Events...), "RESTResponse")); err != nil {
		l.log.Warn("ari: event filter not set; receiving every event type", zap.Error(err))
	}
}

// detach forgets c once it is gone; waiting requests fail.
func (l *outboundLink) detach(c *outboundConn, err error) {
	c.err = err
	close(c.done)
	c.ws.CloseNow()
	l.mu.Lock()
	current := l.conn == c
	if current {
		l.conn = nil
		// A fresh "up" only if this one was open: waiters hold the
		// channel they saw, and one replaced before it was ever closed
		// (a connection Asterisk dropped before its first frame, as it
		// does when it reconnects in a hurry) would keep them waiting
		// past the next connection. Seen in CI: a standby replica sat
		// 10 s on the flap of its first connection after a takeover.
		select {
		case <-l.up:
			l.up = make(chan struct{})
		default:
		}
	}
	closed := l.closed
	l.mu.Unlock()
	if !current || closed {
		return
	}
	l.log.Warn("ari: Asterisk's outbound websocket closed; waiting for it to reconnect", zap.Error(err))
	l.deliver(&Disconnected{Err: err})
}

// keepAlive pings Asterisk; a ping not answered in time closes the
// connection (a dead peer or a half-open TCP connection), so Asterisk
// reconnects and the engine reconciles.
func (l *outboundLink) keepAlive(ctx context.Context, c *outboundConn) {
	t := time.NewTicker(l.pingGap)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, l.pingWait)
		err := c.ws.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			l.log.Warn("ari: Asterisk did not answer a ping; closing its connection", zap.Duration("waited", l.pingWait), zap.Error(err))
			c.ws.CloseNow()
			return
		}
	}
}

// read takes frames until the connection ends: answers go to their
// requests, events to the stream.
func (l *outboundLink) read(c *outboundConn) error {
	var buf bytes.Buffer
	for {
		_, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return err
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		data := buf.Bytes()
		c.heardOnce.Do(func() { close(c.heard) })
		if string(typeField(data)) == "RESTResponse" {
			var res restResponse
			if err := json.Unmarshal(data, &res); err != nil {
				l.log.Warn("ari: malformed RESTResponse skipped", zap.Error(err))
				continue
			}
			l.answer(res)
			continue
		}
		ev, err := DecodeEvent(data)
		if err != nil {
			l.log.Warn("ari: malformed event frame skipped", zap.Error(err))
			continue
		}
		if !l.deliver(ev) {
			return errors.New("stopped")
		}
	}
}

func (l *outboundLink) answer(res restResponse) {
	l.mu.Lock()
	ch, ok := l.pending[res.RequestID]
	delete(l.pending, res.RequestID)
	l.mu.Unlock()
	if ok {
		ch <- res
	}
}

// unread counts events queued or in the pump, not yet read from the
// stream.
func (l *outboundLink) unread() int {
	l.queueMu.Lock()
	defer l.queueMu.Unlock()
	return len(l.queue) + int(l.inPump.Load())
}

// deliver queues an event for the stream without waiting; false once the
// link is closed.
func (l *outboundLink) deliver(ev Event) bool {
	select {
	case <-l.stop:
		// Asterisk sent it before it read transferd's close: nobody
		// here will handle it (a successor reconciles with what
		// Asterisk holds).
		l.log.Warn("ari: an event arrived while the connection was being handed over; left to the successor",
			zap.String("event", ev.EventType()))
		return false
	default:
	}
	if l.cfg.OnEvent != nil {
		l.cfg.OnEvent(ev)
	}
	l.queueMu.Lock()
	l.queue = append(l.queue, ev)
	l.queueMu.Unlock()
	select {
	case l.queueReady <- struct{}{}:
	default:
	}
	return true
}

// waitUp returns the connection, waiting for Asterisk until ctx ends.
func (l *outboundLink) waitUp(ctx context.Context) (*outboundConn, error) {
	for {
		l.mu.Lock()
		c, up := l.conn, l.up
		l.mu.Unlock()
		select {
		case <-up:
			if c != nil {
				return c, nil
			}
			// (up was closed for a connection since replaced: look again.)
		case <-ctx.Done():
			return nil, ErrNotConnected
		}
	}
}

// send sends one REST request (uri: the path under /ari and the query)
// and waits for its answer until deadline. A request whose connection is
// lost before the answer is not sent again: Asterisk may have done it.
func (l *outboundLink) send(ctx context.Context, deadline time.Time, method, uri string, body []byte) (answer, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	c, err := l.waitUp(ctx)
	if err != nil {
		return answer{}, err
	}
	req := restRequest{Type: "RESTRequest", RequestID: strconv.FormatUint(l.nextID.Add(1), 10),
		Method: method, URI: strings.TrimPrefix(uri, "/")}
	if body != nil {
		req.ContentType, req.MessageBody = "application/json", string(body)
	}
	frame, err := json.Marshal(req)
	if err != nil {
		return answer{}, err
	}
	ch := make(chan restResponse, 1)
	l.mu.Lock()
	l.pending[req.RequestID] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.pending, req.RequestID)
		l.mu.Unlock()
	}()
	if err := c.ws.Write(ctx, websocket.MessageText, frame); err != nil {
		return answer{}, fmt.Errorf("send over outbound websocket: %w", err)
	}
	select {
	case res := <-ch:
		return answer{status: res.StatusCode, body: []byte(res.MessageBody)}, nil
	case <-c.done:
		return answer{}, fmt.Errorf("outbound websocket lost before the answer: %w", c.err)
	case <-ctx.Done():
		return answer{}, ctx.Err()
	}
}

// close ends the current connection (Asterisk reconnects elsewhere),
// waits for its reader and closes the stream.
func (l *outboundLink) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	c := l.conn
	close(l.stop)
	l.mu.Unlock()
	if c != nil {
		// Closed at the TCP level, no close handshake: Asterisk
		// 22.11.0-rc2 under load crashed three times within a second of
		// reading transferd's close frame (a segfault in
		// res_http_websocket.so, twice in the asterisk binary, each right
		// after "Websocket disconnected. Reconnecting"). A TCP close does
		// not avoid Asterisk's reconnect race (it crashed after TCP closes
		// too, and once in 49 SIGKILLs: internal/loadtest/ha.md); it is
		// how a killed replica's connection ends as well, so a hand-over
		// and a kill take the same path in Asterisk.
		c.ws.CloseNow()
	}
	l.readers.Wait()
	<-l.pumped
	close(l.events)
}
