package ari

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"
)

// REST requests go to Asterisk's HTTP server through net/http, http:// and
// https:// alike. transferd had its own HTTP/1.1 client for http:// until
// the REST transport A/B of issue 22 (internal/loadtest/rest-ab.md) found
// it no better end to end than net/http with the Transport below.

// maxConns bounds transferd's connections to Asterisk's HTTP server, all
// kept alive. Go's default keeps only 2 idle connections per host: under
// load nearly every REST call then opened a new TCP connection (thousands
// in TIME-WAIT, the kernel reporting a SYN flood on the ARI port, Asterisk
// 22.10.1 crashing with heap corruption at 150 concurrent calls in the load
// harness). Each connection costs Asterisk a thread; requests beyond the
// bound wait for a free one (they take milliseconds), which is far below
// http.conf's default session limit of 100.
const maxConns = 32

// IdleConnTimeout is how long a kept-alive connection to Asterisk may stay
// unused before it is closed. Asterisk itself closes one unused for
// http.conf's session_keep_alive (15 s by default); a request that races
// that close is sent again on a new connection (see sendHTTP).
const IdleConnTimeout = 15 * time.Second

// maxResponse bounds the body read from one answer (the largest, a list of
// every channel, stays far below it).
const maxResponse = 4 << 20

// transport is the HTTP transport of REST requests and of the event
// WebSocket.
func transport(tlsConfig *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost = maxConns
	t.MaxIdleConnsPerHost = maxConns
	// After a burst, the pool shrinks back within seconds: each kept-alive
	// connection holds two goroutines here and a thread in Asterisk.
	t.IdleConnTimeout = IdleConnTimeout
	// Asterisk's answers are small and never compressed.
	t.DisableCompression = true
	if tlsConfig != nil {
		t.TLSClientConfig = tlsConfig.Clone()
	}
	return t
}

// answer is Asterisk's response to one REST request.
type answer struct {
	status int    // 0 when no response head arrived
	body   []byte // at most maxResponse bytes
}

// requestHeader is what every REST request carries besides Authorization
// and Content-Type: no User-Agent (Asterisk reads none), and an empty
// Idempotency-Key, which is not sent but lets net/http send a request
// again on a new connection when a kept-alive one turns out closed by
// Asterisk before it read anything (the race with session_keep_alive),
// POSTs included.
var requestHeader = http.Header{"User-Agent": {""}, "Idempotency-Key": nil}

// sendHTTP sends one REST request (uri is the path and query) and reads
// the answer.
//
// A request whose connection could not be opened, or was closed before a
// byte of an answer arrived, is sent again after a pause (a network blip,
// a restarting proxy), at most three times in all: a transient fault must
// not end a call. Once Asterisk has answered anything, even a broken
// answer, the request is never sent again.
func (c *Client) sendHTTP(ctx context.Context, method, uri string, body []byte) (answer, error) {
	send := func() (answer, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.origin+uri, rd)
		if err != nil {
			return answer{}, backoff.Permanent(err)
		}
		req.Header = requestHeader.Clone()
		req.Header.Set("Authorization", c.auth)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.closed.Load() {
			// (After Close, requests still work but keep no connection.)
			req.Close = true
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if !unanswered(err) || ctx.Err() != nil {
				return answer{}, backoff.Permanent(err)
			}
			c.log.Debug("ari: retrying after a broken connection", zap.Error(err), zap.String("method", method), zap.String("path", req.URL.Path))
			return answer{}, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		if err != nil {
			return answer{status: resp.StatusCode}, backoff.Permanent(fmt.Errorf("read response: %w", err))
		}
		return answer{status: resp.StatusCode, body: data}, nil
	}
	return backoff.Retry(ctx, send, backoff.WithBackOff(NewBackOff(50*time.Millisecond, 200*time.Millisecond)),
		backoff.WithMaxTries(3), backoff.WithMaxElapsedTime(0))
}

// unanswered tells the failures that leave Asterisk without the request,
// or with it and nothing answered: the connection was refused or reset,
// or closed before a byte of an answer.
func unanswered(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" ||
		errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
