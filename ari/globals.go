package ari

import (
	"context"
	"net/http"
	"net/url"
)

// GlobalVariable reads a global variable, or evaluates a dialplan function
// that needs no channel (for example VM_INFO(103@default,exists)).
func (c *Client) GlobalVariable(ctx context.Context, name string) (string, error) {
	var v Variable
	err := c.do(ctx, "get global variable", name, http.MethodGet, "/asterisk/variable", url.Values{"variable": {name}}, nil, &v)
	return v.Value, err
}

// SetGlobalVariable sets a global variable.
func (c *Client) SetGlobalVariable(ctx context.Context, name, value string) error {
	return c.do(ctx, "set global variable", name, http.MethodPost, "/asterisk/variable", url.Values{"variable": {name}, "value": {value}}, nil, nil)
}
