package ari

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
	link   *outboundLink // outbound mode: REST and events over Asterisk's connection
	log    *zap.Logger

	closed atomic.Bool // Close was called: connections are no longer kept
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

// Close stops every subscription, waits for its goroutines, and closes
// idle connections. REST calls made afterwards still work, without
// keeping their connection.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed.Store(true)
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
	} else {
		if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
			// (Callers with a sooner deadline of their own, the
			// engine's commands, are spared a second timer.)
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
		resp, err = c.sendHTTP(ctx, method, uri, data)
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

// Applications returns every Stasis application Asterisk serves.
func (c *Client) Applications(ctx context.Context) ([]Application, error) {
	var apps []Application
	if err := c.do(ctx, "list applications", "", http.MethodGet, "/applications", nil, nil, &apps); err != nil {
		return nil, err
	}
	return apps, nil
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
