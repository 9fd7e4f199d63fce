package transfer

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Router turns a dialled extension into an Asterisk dial string.
//
// Route is called from the call's owner goroutine and may block on I/O
// (a directory lookup) within ctx. An error wrapping ErrNoSuchExtension
// means the number is not in service; the caller hears so.
type Router interface {
	Route(ctx context.Context, exten string) (dialString string, err error)
}

// Policy decides whether a transfer may go where the transferer asked.
//
// AllowTransfer is called from the call's owner goroutine before anything
// is dialled. A non-nil error refuses the transfer: the transferer's phone is
// told (SIP NOTIFY 603) and keeps the caller on hold; nobody is dropped.
type Policy interface {
	AllowTransfer(ctx context.Context, req Request) error
}

// Rewriter is an optional extension of a Policy: a Policy that implements
// it may change where a transfer goes (a short code to an extension, a
// departed employee to a successor) before AllowTransfer judges it.
//
// Rewrite is called from the call's owner goroutine before AllowTransfer;
// it returns the destination to use. An error refuses the transfer, as
// AllowTransfer's would.
type Rewriter interface {
	Rewrite(ctx context.Context, req Request) (destination string, err error)
}

// decide applies a policy (and its Rewriter, if any) to req and returns the
// request as it is to be carried out.
func decide(ctx context.Context, p Policy, req Request) (Request, error) {
	if r, ok := p.(Rewriter); ok {
		dest, err := r.Rewrite(ctx, req)
		if err != nil {
			return req, err
		}
		req.Destination = dest
	}
	return req, p.AllowTransfer(ctx, req)
}

// Request describes a transfer for a Policy and an Observer.
type Request struct {
	Kind        Kind
	CallID      string
	Transferer  string // the extension that pressed Tran
	Transferee  string // the extension being transferred (the caller)
	Destination string // the extension asked for
}

// Kind is the kind of a transfer, in the phone user's words.
type Kind string

const (
	KindBlind     Kind = "blind"
	KindAttended  Kind = "attended"
	KindVoicemail Kind = "voicemail"
)

// ErrNoSuchExtension marks a destination that is not in service.
var ErrNoSuchExtension = errors.New("no such extension")

// ErrRefused marks a destination the transfer policy does not allow.
var ErrRefused = errors.New("refused by transfer policy")

// ErrUnavailable marks a destination that exists but cannot be reached now
// (its phone is not registered, Asterisk refused the channel).
var ErrUnavailable = errors.New("destination unavailable")

// PatternRouter is the default Router and Policy: extensions matching the
// configured pattern are dialled with the configured template; anything
// else is not in service and may not be a transfer destination.
type PatternRouter struct {
	pattern  *regexp.Regexp
	template string
	// elsewhere: the route to another node that takes an extension
	// (Config.routeElsewhere).
	elsewhere func(exten string) (Route, bool)
}

// NewPatternRouter returns the default Router and Policy for a validated
// Config.
func NewPatternRouter(cfg Config) *PatternRouter {
	return &PatternRouter{pattern: cfg.extensionRE, template: cfg.DialTemplate, elsewhere: cfg.routeElsewhere}
}

// Route implements Router.
func (r *PatternRouter) Route(_ context.Context, exten string) (string, error) {
	if !r.pattern.MatchString(exten) {
		return "", fmt.Errorf("extension %q does not match %s: %w", exten, r.pattern, ErrNoSuchExtension)
	}
	template := r.template
	if route, ok := r.elsewhere(exten); ok {
		template = route.Dial
	}
	return strings.ReplaceAll(template, "{exten}", exten), nil
}

// AllowTransfer implements Policy: internal extensions only.
func (r *PatternRouter) AllowTransfer(_ context.Context, req Request) error {
	if !r.pattern.MatchString(req.Destination) {
		return fmt.Errorf("destination %q is not an internal extension (%s): %w", req.Destination, r.pattern, ErrRefused)
	}
	return nil
}
