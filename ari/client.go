package ari

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// DefaultTimeout bounds one REST request when the caller's ctx has no
// earlier deadline: Asterisk answers in milliseconds; seconds mean stuck.
const DefaultTimeout = 5 * time.Second

// Config configures a Client. Nothing is read from the environment.
type Config struct {
	// URL of Asterisk's HTTP server, e.g. "http://127.0.0.1:8088"; the
	// client adds "/ari".
	URL      string
	Username string
	// Password is sent as HTTP basic auth and never logged or put in an error.
	Password string
	// App is the Stasis application whose events Subscribe delivers.
	App string
	// Timeout bounds each REST request (DefaultTimeout when zero).
	Timeout time.Duration
	// Logger receives connection logs (none when nil).
	Logger *zap.Logger
	// TLS configures https:// and wss:// connections (for example a
	// private CA for Asterisk's certificate); nil uses the system roots.
	TLS *tls.Config
	// Events, when not empty, are the only event types Subscribe asks
	// Asterisk to send (an application event filter, set again on every
	// reconnection). Asterisk sends a Stasis app every event of its
	// channels and bridges, most of them ChannelVarset: filtering spares
	// Asterisk the sending and the client the decoding.
	Events []string
	// OnEvent, when set, sees every event of a Subscribe stream in order
	// (Disconnected and Reconnected included) as the stream reads it,
	// before it is delivered: for metrics and readiness, without a
	// goroutine of the caller's relaying the stream. It runs on the
	// stream's goroutine and must not block.
	OnEvent func(Event)
	// Outbound: Asterisk connects to the client (ari.conf
	// outbound_websocket, Asterisk 22.5+) through OutboundHandler, with
	// Username and Password as Basic auth; REST requests and events travel
	// over that connection (see outbound.go). URL is not used, unless
	// RESTOverHTTP.
	Outbound bool
	// RESTOverHTTP, in outbound mode, sends REST requests to URL over
	// HTTP(S), as in inbound mode, instead of over Asterisk's connection;
	// events still come over the connection, and requests are only sent
	// while Asterisk is connected to this client. Why: Asterisk serves
	// the requests that come over its outbound connection one at a time,
	// on the thread that reads the connection (res/ari/ari_websockets.c),
	// and under load they queue there (load harness, 100 calls: REFER to
	// final NOTIFY p50 0.78 s); over HTTP it serves them in parallel.
	RESTOverHTTP bool
	// RESTClient chooses the HTTP client of REST requests (the REST
	// transport A/B of issue 22): "" or "own" (restPool over http://,
	// net/http over https://), "net/http" (a tuned http.Transport for
	// both), "fasthttp" (fasthttp's HostClient for both).
	RESTClient string
	// PingInterval, in outbound mode, is how often the connection is
	// pinged and how long a pong may take before the connection is taken
	// for dead (2 s when zero).
	PingInterval time.Duration
}

// Client is a typed ARI client: REST calls and one ordered event stream.
// It is safe for concurrent use.
type Client struct {
	cfg    Config
	base   string // URL + "/ari"
	origin string // scheme://host of URL
	path   string // URL's path + "/ari": REST paths are under it
	auth   string // Authorization header value (basic auth)
	http   *http.Client
	rest   *restPool     // REST requests over http:// (nil for https://)
	fast   *fastREST     // REST requests with fasthttp (Config.RESTClient)
	link   *outboundLink // outbound mode: REST and events over Asterisk's connection
	log    *zap.Logger

	mu     sync.Mutex
	cancel []context.CancelFunc
	wg     sync.WaitGroup

	// Inbound mode's event stream and whether its reader waits to hand
	// an event to it (Unread).
	stream  chan Event
	sending atomic.Int32
}

// New returns a client; it does not connect until used.
func New(cfg Config) (*Client, error) {
	if cfg.Outbound {
		return newOutbound(cfg)
	}
	return newHTTPClient(cfg)
}

// newHTTPClient returns a client whose REST requests go to cfg.URL.
func newHTTPClient(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ari: url %q: want http(s)://host:port", cfg.URL)
	}
	if u.User != nil {
		return nil, errors.New("ari: url must not carry credentials; use Username and Password")
	}
	cfg, log, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	// http://pbx:8088 and http://pbx:8088/ari (the form Asterisk's own
	// documentation and most ARI clients use) name the same ARI.
	cfg.URL = strings.TrimSuffix(strings.TrimRight(cfg.URL, "/"), "/ari")
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/ari")
	u.RawPath = ""
	c := &Client{
		cfg:    cfg,
		base:   cfg.URL + "/ari",
		origin: u.Scheme + "://" + u.Host,
		path:   u.EscapedPath() + "/ari",
		auth:   "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password)),
		http:   &http.Client{Transport: transport(cfg.TLS)},
		log:    log,
	}
	switch cfg.RESTClient {
	case "", "own":
		if u.Scheme == "http" {
			c.rest = newRestPool(u, c.auth, log)
		}
	case "net/http":
	case "fasthttp":
		c.fast = newFastREST(u, c.auth, cfg.TLS)
	default:
		return nil, fmt.Errorf("ari: REST client %q: want own, net/http or fasthttp", cfg.RESTClient)
	}
	return c, nil
}

// withDefaults checks what every client needs and fills in the defaults:
// the request timeout and a logger.
func withDefaults(cfg Config) (Config, *zap.Logger, error) {
	if cfg.App == "" {
		return cfg, nil, errors.New("ari: app name missing")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return cfg, log, nil
}

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
// that close is sent again on a new connection.
const IdleConnTimeout = 15 * time.Second

// transport is the HTTP transport of the event WebSocket, and of REST
// calls over https:// (see restPool for http://).
func transport(tlsConfig *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost = maxConns
	t.MaxIdleConnsPerHost = maxConns
	// After a burst, the pool shrinks back within seconds: each kept-alive
	// connection holds two goroutines here and a thread in Asterisk.
	t.IdleConnTimeout = IdleConnTimeout
	if tlsConfig != nil {
		t.TLSClientConfig = tlsConfig.Clone()
	}
	return t
}

// sendHTTPS sends a REST request with net/http, the https:// path, and
// reads the answer. uri is the path and query.
func (c *Client) sendHTTPS(ctx context.Context, method, uri string, body []byte) (answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.origin+uri, rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", c.auth)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.send(ctx, req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return answer{status: resp.StatusCode}, fmt.Errorf("read response: %w", err)
	}
	return answer{status: resp.StatusCode, body: data}, nil
}

// send sends req, retrying twice when the connection broke without an
// answer (a kept-alive connection cut by a network blip or a restarting
// proxy): a transient fault must not end a call. Asterisk's own answers,
// errors included, are never retried.
func (c *Client) send(ctx context.Context, req *http.Request) (*http.Response, error) {
	var err error
	for attempt, wait := 0, 50*time.Millisecond; attempt < 3; attempt, wait = attempt+1, wait*4 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(wait):
			}
			if req.GetBody != nil {
				body, gerr := req.GetBody()
				if gerr != nil {
					return nil, gerr
				}
				req.Body = body
			}
			c.log.Debug("ari: retrying after a broken connection", zap.Error(err), zap.String("path", req.URL.Path))
		}
		var resp *http.Response
		resp, err = c.http.Do(req)
		if err == nil || ctx.Err() != nil {
			return resp, err
		}
	}
	return nil, err
}

// Close stops every subscription, waits for its goroutines, and closes
// idle connections. REST calls made afterwards still work, without
// keeping their connection.
func (c *Client) Close() error {
	c.mu.Lock()
	cancels := c.cancel
	c.cancel = nil
	c.mu.Unlock()
	for _, cancel := range cancels {
		cancel()
	}
	c.wg.Wait()
	if c.link != nil {
		c.link.close()
	}
	if c.rest != nil {
		c.rest.close()
	}
	if c.fast != nil {
		c.fast.close()
	}
	if c.http != nil {
		c.http.CloseIdleConnections()
	}
	return nil
}

// do performs one REST request. query may be nil; body, when non-nil, is
// sent as JSON; out, when non-nil, receives the decoded 2xx response.
func (c *Client) do(ctx context.Context, op, id, method, path string, query url.Values, body, out any) error {
	var uri string // path and query
	if len(query) > 0 {
		uri = c.path + path + "?" + query.Encode()
	} else {
		uri = c.path + path
	}
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return fmt.Errorf("ari: %s %s: encode body: %w", op, id, err)
		}
	}
	start := time.Now()
	deadline := start.Add(c.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var resp answer
	var err error
	if c.link != nil && !c.cfg.RESTOverHTTP {
		resp, err = c.link.send(ctx, deadline, method, uri, data)
	} else if err = c.admitted(ctx, deadline); err != nil {
		// (Not connected: nothing is sent.)
	} else if c.fast != nil {
		resp, err = c.fast.send(ctx, deadline, method, uri, data)
	} else if c.rest != nil {
		// (The deadline goes to the connection as is: no timer, no
		// context per request.)
		resp, err = c.rest.send(ctx, deadline, method, uri, data)
	} else {
		if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
			// (Callers with a sooner deadline of their own, the
			// engine's commands, are spared a second timer.)
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
		resp, err = c.sendHTTPS(ctx, method, uri, data)
	}
	if resp.status != 0 {
		// (Checked first: building the fields costs more than the
		// request path itself when debug logging is off.)
		if ce := c.log.Check(zap.DebugLevel, "ari request"); ce != nil {
			ce.Write(zap.String("method", method), zap.String("path", path), zap.Int("status", resp.status),
				zap.Duration("took", time.Since(start)))
		}
	}
	if err != nil {
		return fmt.Errorf("ari: %s %s: %w", op, id, err)
	}
	// The body may lie in the connection's buffer until done.
	defer resp.done()
	data = resp.body
	if resp.status < 200 || resp.status > 299 {
		// Asterisk answers {"message": "..."} or {"error": "..."}.
		var msg struct{ Message, Error string }
		json.Unmarshal(data, &msg)
		text := msg.Message
		if text == "" {
			text = msg.Error
		}
		if text == "" {
			text = http.StatusText(resp.status)
		}
		return &Error{Op: op, ID: id, Status: resp.status, Message: text}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("ari: %s %s: decode response: %w", op, id, err)
		}
	}
	return nil
}

// Info returns Asterisk's system information.
func (c *Client) Info(ctx context.Context) (*AsteriskInfo, error) {
	var info AsteriskInfo
	if err := c.do(ctx, "asterisk info", "", http.MethodGet, "/asterisk/info", nil, nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Application returns the state of a Stasis application.
func (c *Client) Application(ctx context.Context, name string) (*Application, error) {
	var app Application
	if err := c.do(ctx, "get application", name, http.MethodGet, "/applications/"+url.PathEscape(name), nil, nil, &app); err != nil {
		return nil, err
	}
	return &app, nil
}

// FilterEvents sets the event types Asterisk sends the application: only
// those in allowed (every type when allowed is empty). The filter lives in
// Asterisk as long as the application does.
func (c *Client) FilterEvents(ctx context.Context, app string, allowed []string) error {
	type eventType struct {
		Type string `json:"type"`
	}
	filter := struct {
		Allowed    []eventType `json:"allowed"`
		Disallowed []eventType `json:"disallowed"`
	}{Allowed: []eventType{}, Disallowed: []eventType{}}
	for _, t := range allowed {
		filter.Allowed = append(filter.Allowed, eventType{t})
	}
	return c.do(ctx, "filter events", app, http.MethodPut, "/applications/"+url.PathEscape(app)+"/eventFilter", nil, filter, nil)
}

// Endpoint returns a technology endpoint, e.g. ("PJSIP", "102").
func (c *Client) Endpoint(ctx context.Context, tech, resource string) (*Endpoint, error) {
	var ep Endpoint
	p := "/endpoints/" + url.PathEscape(tech) + "/" + url.PathEscape(resource)
	if err := c.do(ctx, "get endpoint", tech+"/"+resource, http.MethodGet, p, nil, nil, &ep); err != nil {
		return nil, err
	}
	return &ep, nil
}
