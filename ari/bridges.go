package ari

import (
	"context"
	"net/http"
	"net/url"
)

// CreateBridge creates a bridge with a chosen id. typ is a comma list of
// bridge types, e.g. "mixing,dtmf_events" (DTMF then reaches the app).
func (c *Client) CreateBridge(ctx context.Context, id, typ, name string) (*Bridge, error) {
	q := url.Values{}
	setIf(q, "bridgeId", id)
	setIf(q, "type", typ)
	setIf(q, "name", name)
	var b Bridge
	if err := c.do(ctx, "create bridge", id, http.MethodPost, "/bridges", q, nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

func (c *Client) Bridge(ctx context.Context, id string) (*Bridge, error) {
	var b Bridge
	if err := c.do(ctx, "get bridge", id, http.MethodGet, bridgePath(id, ""), nil, nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

func (c *Client) Bridges(ctx context.Context) ([]Bridge, error) {
	var list []Bridge
	if err := c.do(ctx, "list bridges", "", http.MethodGet, "/bridges", nil, nil, &list); err != nil {
		return nil, err
	}
	return list, nil
}

func (c *Client) AddChannel(ctx context.Context, bridgeID, channelID string) error {
	return c.do(ctx, "add channel "+channelID+" to bridge", bridgeID, http.MethodPost, bridgePath(bridgeID, "/addChannel"), url.Values{"channel": {channelID}}, nil, nil)
}

func (c *Client) RemoveChannel(ctx context.Context, bridgeID, channelID string) error {
	return c.do(ctx, "remove channel "+channelID+" from bridge", bridgeID, http.MethodPost, bridgePath(bridgeID, "/removeChannel"), url.Values{"channel": {channelID}}, nil, nil)
}

func (c *Client) DestroyBridge(ctx context.Context, id string) error {
	return c.do(ctx, "destroy bridge", id, http.MethodDelete, bridgePath(id, ""), nil, nil, nil)
}

func (c *Client) StartBridgeMOH(ctx context.Context, id, class string) error {
	q := url.Values{}
	setIf(q, "mohClass", class)
	return c.do(ctx, "start moh on bridge", id, http.MethodPost, bridgePath(id, "/moh"), q, nil, nil)
}

func (c *Client) StopBridgeMOH(ctx context.Context, id string) error {
	return c.do(ctx, "stop moh on bridge", id, http.MethodDelete, bridgePath(id, "/moh"), nil, nil, nil)
}

// PlayOnBridge plays media to every channel of a bridge.
func (c *Client) PlayOnBridge(ctx context.Context, id, playbackID, media string) (*Playback, error) {
	q := url.Values{"media": {media}}
	setIf(q, "playbackId", playbackID)
	var pb Playback
	if err := c.do(ctx, "play on bridge", id, http.MethodPost, bridgePath(id, "/play"), q, nil, &pb); err != nil {
		return nil, err
	}
	return &pb, nil
}

func bridgePath(id, suffix string) string { return "/bridges/" + url.PathEscape(id) + suffix }

// Playback returns a playback's state; StopPlayback stops it.
func (c *Client) Playback(ctx context.Context, id string) (*Playback, error) {
	var pb Playback
	if err := c.do(ctx, "get playback", id, http.MethodGet, "/playbacks/"+url.PathEscape(id), nil, nil, &pb); err != nil {
		return nil, err
	}
	return &pb, nil
}

func (c *Client) StopPlayback(ctx context.Context, id string) error {
	return c.do(ctx, "stop playback", id, http.MethodDelete, "/playbacks/"+url.PathEscape(id), nil, nil, nil)
}

// BridgeVariable reads a bridge variable (Asterisk 22.10+), e.g. state an
// application keeps in Asterisk so a restarted controller finds it.
func (c *Client) BridgeVariable(ctx context.Context, id, name string) (string, error) {
	var v Variable
	err := c.do(ctx, "get bridge variable", id, http.MethodGet, "/bridges/"+url.PathEscape(id)+"/variable", url.Values{"variable": {name}}, nil, &v)
	return v.Value, err
}

// SetBridgeVariable sets a bridge variable (Asterisk 22.10+).
func (c *Client) SetBridgeVariable(ctx context.Context, id, name, value string) error {
	return c.do(ctx, "set bridge variable", id, http.MethodPost, "/bridges/"+url.PathEscape(id)+"/variable", url.Values{"variable": {name}, "value": {value}}, nil, nil)
}
