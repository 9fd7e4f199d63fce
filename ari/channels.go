package ari

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ChannelCreate are the parameters of POST /channels/create.
type ChannelCreate struct {
	ChannelID  string // chosen by the caller, so it can be routed first
	Endpoint   string // dial string, e.g. "PJSIP/102"
	App        string // Stasis app (the client's when empty)
	AppArgs    string
	Originator string // channel this one is created on behalf of
	Formats    string
	Variables  map[string]string
}

// CreateChannel creates a channel in Stasis without dialling it.
func (c *Client) CreateChannel(ctx context.Context, p ChannelCreate) (*Channel, error) {
	q := url.Values{"endpoint": {p.Endpoint}, "app": {c.appOr(p.App)}}
	setIf(q, "channelId", p.ChannelID)
	setIf(q, "appArgs", p.AppArgs)
	setIf(q, "originator", p.Originator)
	setIf(q, "formats", p.Formats)
	var body any
	if len(p.Variables) > 0 {
		body = map[string]any{"variables": p.Variables}
	}
	var ch Channel
	if err := c.do(ctx, "create channel", p.ChannelID, http.MethodPost, "/channels/create", q, body, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// Originate creates and dials a channel in one step, into the app.
func (c *Client) Originate(ctx context.Context, p ChannelCreate, timeout time.Duration) (*Channel, error) {
	q := url.Values{"endpoint": {p.Endpoint}, "app": {c.appOr(p.App)}}
	setIf(q, "channelId", p.ChannelID)
	setIf(q, "appArgs", p.AppArgs)
	setIf(q, "originator", p.Originator)
	if timeout > 0 {
		q.Set("timeout", strconv.Itoa(int(timeout.Seconds())))
	}
	var body any
	if len(p.Variables) > 0 {
		body = map[string]any{"variables": p.Variables}
	}
	var ch Channel
	if err := c.do(ctx, "originate", p.ChannelID, http.MethodPost, "/channels", q, body, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// Dial rings a created channel; Asterisk gives up after timeout (whole
// seconds, at least 1).
func (c *Client) Dial(ctx context.Context, id, caller string, timeout time.Duration) error {
	q := url.Values{}
	setIf(q, "caller", caller)
	if timeout > 0 {
		secs := int(timeout.Seconds())
		if secs < 1 {
			secs = 1
		}
		q.Set("timeout", strconv.Itoa(secs))
	}
	return c.do(ctx, "dial channel", id, http.MethodPost, chanPath(id, "/dial"), q, nil, nil)
}

// Channel returns a channel's current state.
func (c *Client) Channel(ctx context.Context, id string) (*Channel, error) {
	var ch Channel
	if err := c.do(ctx, "get channel", id, http.MethodGet, chanPath(id, ""), nil, nil, &ch); err != nil {
		return nil, err
	}
	return &ch, nil
}

// Channels lists every channel Asterisk holds.
func (c *Client) Channels(ctx context.Context) ([]Channel, error) {
	var list []Channel
	if err := c.do(ctx, "list channels", "", http.MethodGet, "/channels", nil, nil, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// Hangup hangs up a channel with an ARI reason ("normal", "busy",
// "unallocated", "no_answer", "congestion", ...).
func (c *Client) Hangup(ctx context.Context, id, reason string) error {
	q := url.Values{}
	setIf(q, "reason", reason)
	return c.do(ctx, "hangup channel", id, http.MethodDelete, chanPath(id, ""), q, nil, nil)
}

func (c *Client) Answer(ctx context.Context, id string) error {
	return c.do(ctx, "answer channel", id, http.MethodPost, chanPath(id, "/answer"), nil, nil, nil)
}

// Ring indicates ringing to the channel; RingStop ends it.
func (c *Client) Ring(ctx context.Context, id string) error {
	return c.do(ctx, "ring channel", id, http.MethodPost, chanPath(id, "/ring"), nil, nil, nil)
}

func (c *Client) RingStop(ctx context.Context, id string) error {
	return c.do(ctx, "stop ringing channel", id, http.MethodDelete, chanPath(id, "/ring"), nil, nil, nil)
}

// Hold puts a channel on hold (the bridge plays it music); Unhold resumes.
func (c *Client) Hold(ctx context.Context, id string) error {
	return c.do(ctx, "hold channel", id, http.MethodPost, chanPath(id, "/hold"), nil, nil, nil)
}

func (c *Client) Unhold(ctx context.Context, id string) error {
	return c.do(ctx, "unhold channel", id, http.MethodDelete, chanPath(id, "/hold"), nil, nil, nil)
}

// StartMOH plays music on hold class (default when empty) to a channel.
func (c *Client) StartMOH(ctx context.Context, id, class string) error {
	q := url.Values{}
	setIf(q, "mohClass", class)
	return c.do(ctx, "start moh on channel", id, http.MethodPost, chanPath(id, "/moh"), q, nil, nil)
}

func (c *Client) StopMOH(ctx context.Context, id string) error {
	return c.do(ctx, "stop moh on channel", id, http.MethodDelete, chanPath(id, "/moh"), nil, nil, nil)
}

// Continue sends a channel out of Stasis to a dialplan location (priority
// 1 when zero).
func (c *Client) Continue(ctx context.Context, id, dialplanContext, exten string, priority int) error {
	q := url.Values{}
	setIf(q, "context", dialplanContext)
	setIf(q, "extension", exten)
	if priority > 0 {
		q.Set("priority", strconv.Itoa(priority))
	}
	return c.do(ctx, "continue channel", id, http.MethodPost, chanPath(id, "/continue"), q, nil, nil)
}

// Variable reads a channel variable or function.
func (c *Client) Variable(ctx context.Context, id, name string) (string, error) {
	var v Variable
	err := c.do(ctx, "get channel variable", id, http.MethodGet, chanPath(id, "/variable"), url.Values{"variable": {name}}, nil, &v)
	return v.Value, err
}

// SetVariable sets a channel variable or function.
func (c *Client) SetVariable(ctx context.Context, id, name, value string) error {
	return c.do(ctx, "set channel variable", id, http.MethodPost, chanPath(id, "/variable"), url.Values{"variable": {name}, "value": {value}}, nil, nil)
}

// Play starts media ("sound:hello-world", "tone:ring") on a channel with a
// playback id the caller chose.
func (c *Client) Play(ctx context.Context, id, playbackID, media string) (*Playback, error) {
	q := url.Values{"media": {media}}
	setIf(q, "playbackId", playbackID)
	var pb Playback
	if err := c.do(ctx, "play on channel", id, http.MethodPost, chanPath(id, "/play"), q, nil, &pb); err != nil {
		return nil, err
	}
	return &pb, nil
}

// TransferProgress reports a REFER's progress to the transferer's phone
// (ari-only transfer handling): "channel_progress" (NOTIFY 100),
// "channel_answered" (200), "channel_unavailable" (503),
// "channel_declined" (603).
func (c *Client) TransferProgress(ctx context.Context, id, state string) error {
	return c.do(ctx, "transfer progress", id, http.MethodPost, chanPath(id, "/transfer_progress"), url.Values{"states": {state}}, nil, nil)
}

func (c *Client) appOr(app string) string {
	if app != "" {
		return app
	}
	return c.cfg.App
}

func chanPath(id, suffix string) string { return "/channels/" + url.PathEscape(id) + suffix }

func setIf(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}
