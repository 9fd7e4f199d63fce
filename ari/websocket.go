package ari

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/coder/websocket"
	"go.uber.org/zap"
)

// Reconnect backoff: start fast (a restarted Asterisk is back within a
// second or two), cap low enough that calls are not left unattended long;
// each wait is randomized (NewBackOff) so that many controllers
// restarting together do not hammer Asterisk in step.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// reconnectSettle is how long a broken event stream waits before its first
// reconnect: Asterisk must have torn the old session down before the new
// one registers the application. A new session that registers first
// ("Replacing Stasis app") is deactivated by the old one's teardown a
// moment later ("Deactivating Stasis app"), and every event after that is
// "missed" by an inactive application: transferd sees nothing until the
// next reconnect (CI, 2026-12-02: reconnected 2 ms after a cut, Asterisk
// noticed the cut 3 ms after, a REFER then went unanswered).
const reconnectSettle = 250 * time.Millisecond

// Subscribe connects the application's event WebSocket and returns its
// events in the order Asterisk sent them. The first connection is made
// before Subscribe returns, so a wrong URL or password is reported at once.
// Afterwards a broken connection is retried with backoff and jitter, and
// the stream carries *Disconnected and *Reconnected markers. Delivery
// blocks rather than drops: a slow reader slows the stream, it never loses
// an event. The channel is closed when ctx is cancelled or Close is called.
//
// In outbound mode Subscribe returns at once: the stream carries what
// Asterisk sends once it connects, and Disconnected and Reconnected when
// its connection drops and comes back. It ends when ctx is cancelled or
// Close is called; a client has one such stream.
func (c *Client) Subscribe(ctx context.Context) (<-chan Event, error) {
	if c.link != nil {
		context.AfterFunc(ctx, c.link.close)
		return c.link.events, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	conn, err := c.dialEvents(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	c.mu.Lock()
	c.cancel = append(c.cancel, cancel)
	c.mu.Unlock()
	out := make(chan Event, 64)
	c.mu.Lock()
	c.stream = out
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(out)
		c.pump(ctx, conn, out)
	}()
	return out, nil
}

// Unread reports how many events Asterisk sent that the stream's reader
// has not taken yet. A transferd handing its connection over waits until
// none is left (and its engine is idle) before it closes the connection.
func (c *Client) Unread() int {
	if c.link != nil {
		return c.link.unread()
	}
	c.mu.Lock()
	stream := c.stream
	c.mu.Unlock()
	return len(stream) + int(c.sending.Load())
}

func (c *Client) dialEvents(ctx context.Context) (*websocket.Conn, error) {
	u := strings.Replace(c.base, "http", "ws", 1) + "/events?" + url.Values{
		"app": {c.cfg.App}, "subscribeAll": {"false"},
	}.Encode()
	dctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{
		HTTPClient: c.http,
		HTTPHeader: http.Header{"Authorization": {c.auth}},
	})
	if err != nil {
		if resp != nil {
			switch resp.StatusCode {
			case http.StatusUnauthorized:
				return nil, &Error{Op: "subscribe app " + c.cfg.App, Status: resp.StatusCode,
					Message: "unauthorized: check the ARI username and password (ari.conf's user, password_format = plain)"}
			case http.StatusNotFound:
				return nil, &Error{Op: "subscribe app " + c.cfg.App, Status: resp.StatusCode,
					Message: fmt.Sprintf("no ARI event WebSocket at %s: check the ARI URL (http://host:port of Asterisk's http.conf, with or without /ari) and that res_ari is loaded", u)}
			}
		}
		return nil, fmt.Errorf("ari: subscribe app %s at %s: %w", c.cfg.App, c.cfg.URL, err)
	}
	conn.SetReadLimit(4 << 20)
	if len(c.cfg.Events) > 0 {
		// Asterisk registered the application on connecting; events sent
		// before the filter is in place arrive and are simply more.
		if err := c.FilterEvents(ctx, c.cfg.App, c.cfg.Events); err != nil {
			c.log.Warn("ari: event filter not set; receiving every event type", zap.Error(err))
		}
	}
	return conn, nil
}

// pump reads frames until ctx ends, reconnecting as needed.
func (c *Client) pump(ctx context.Context, conn *websocket.Conn, out chan<- Event) {
	send := func(ev Event) bool {
		if c.cfg.OnEvent != nil {
			c.cfg.OnEvent(ev)
		}
		c.sending.Add(1)
		defer c.sending.Add(-1)
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		err := c.read(ctx, conn, send)
		conn.Close(websocket.StatusNormalClosure, "")
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("ari event stream broken; reconnecting", zap.Error(err))
		if !send(&Disconnected{Err: err}) {
			return
		}
		select {
		case <-time.After(reconnectSettle):
		case <-ctx.Done():
			return
		}
		// (A password or URL changed meanwhile is told, once.)
		retries := NewRetryLog(c.log, c.cfg.URL)
		conn, err = backoff.Retry(ctx, func() (*websocket.Conn, error) { return c.dialEvents(ctx) },
			backoff.WithBackOff(NewBackOff(minBackoff, maxBackoff)), backoff.WithMaxElapsedTime(0),
			backoff.WithNotify(retries.Failed))
		if err != nil {
			return // (ctx ended)
		}
		retries.Connected()
		c.log.Info("ari event stream reconnected")
		if !send(&Reconnected{}) {
			conn.Close(websocket.StatusNormalClosure, "")
			return
		}
	}
}

func (c *Client) read(ctx context.Context, conn *websocket.Conn, send func(Event) bool) error {
	// One buffer for every frame: DecodeEvent copies what it keeps, and a
	// fresh buffer per frame (conn.Read) was a fifth of the stream's
	// allocations.
	var buf bytes.Buffer
	// ctx's end closes the connection, which ends the read in progress:
	// one AfterFunc for the connection rather than the one Reader(ctx)
	// would set up and tear down for every frame.
	stop := context.AfterFunc(ctx, func() { conn.CloseNow() })
	defer stop()
	for {
		_, r, err := conn.Reader(context.Background())
		if err != nil {
			return err
		}
		if buf.Cap() > 1<<20 {
			buf = bytes.Buffer{} // (not kept for the rest of the connection)
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		ev, err := DecodeEvent(buf.Bytes())
		if err != nil {
			// A frame we cannot read at all is logged, not fatal.
			c.log.Warn("ari: malformed event frame skipped", zap.Error(err))
			continue
		}
		if !send(ev) {
			return errors.New("stopped")
		}
	}
}
