package ari

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
)

// fastREST sends REST requests with fasthttp's HostClient (the REST
// transport A/B of issue 22; Config.RESTClient "fasthttp").
type fastREST struct {
	hc   *fasthttp.HostClient
	host string
	auth string
}

func newFastREST(u *url.URL, auth string, tlsConfig *tls.Config) *fastREST {
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	hc := &fasthttp.HostClient{
		Addr:     addr,
		IsTLS:    u.Scheme == "https",
		MaxConns: maxConns,
		// Without it a request finding every connection busy fails at
		// once ("no free connections available to host"); the request's
		// deadline bounds the wait anyway.
		MaxConnWaitTimeout:            DefaultTimeout,
		MaxIdleConnDuration:           IdleConnTimeout,
		MaxResponseBodySize:           maxResponse,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		// A request on a kept-alive connection the server closed meanwhile
		// is sent again, POSTs included: Asterisk answered nothing.
		RetryIfErr: func(_ *fasthttp.Request, attempts int, err error) (bool, bool) {
			return false, attempts < 3 && !errors.Is(err, fasthttp.ErrTimeout)
		},
	}
	if tlsConfig != nil {
		hc.TLSConfig = tlsConfig.Clone()
	}
	return &fastREST{hc: hc, host: u.Host, auth: auth}
}

func (f *fastREST) send(ctx context.Context, deadline time.Time, method, uri string, body []byte) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, err
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost(f.host)
	req.Header.Set("Authorization", f.auth)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	if err := f.hc.DoDeadline(req, resp, deadline); err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, pathOf(uri), err)
	}
	return answer{status: resp.StatusCode(), body: append([]byte(nil), resp.Body()...)}, nil
}

func (f *fastREST) close() { f.hc.CloseIdleConnections() }
