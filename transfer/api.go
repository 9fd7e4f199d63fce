package transfer

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// The engine's API for code outside the phones: a receptionist console
// listing calls and transferring them, a REST server. Each request becomes
// an input of the call's owner, handled in order with the call's events,
// and the owner replies; the caller waits for the reply or its ctx.

// Errors of the API, each meaning one thing to an API client.
var (
	ErrNoSuchCall         = errors.New("no such call")
	ErrTransferInProgress = errors.New("the call is not in a state to transfer (ringing, or a transfer is in progress)")
	ErrNoConsultation     = errors.New("no attended transfer of this call is waiting to be completed or cancelled")
	ErrNoSuchParty        = errors.New("no party of the call has this extension")
)

// CallInfo describes a call.
type CallInfo struct {
	ID string `json:"id"`
	// Node is the Asterisk the call is on (Config.Node).
	Node  string      `json:"node,omitempty"`
	State string      `json:"state"`
	Legs  []PartyInfo `json:"parties"`
	// Transfer is the kind of the transfer under way, if any.
	Transfer Kind `json:"transfer,omitempty"`
}

// PartyInfo is one party of a call.
type PartyInfo struct {
	Channel   string `json:"channel"`
	Extension string `json:"extension"`
	Role      string `json:"role"` // caller, callee, target, held
}

// TransferCommand asks for a transfer of a call from outside.
type TransferCommand struct {
	Kind Kind `json:"kind"`
	// Party is the extension of the party to transfer; "" is the caller.
	// The other party is the transferer: it leaves the call (blind,
	// voicemail) or consults the destination first (attended).
	Party       string `json:"party,omitempty"`
	Destination string `json:"destination"`
}

// apiRequest is an API request delivered to a call's owner.
type apiRequest struct {
	op    string // "describe", "transfer", "complete", "cancel"
	cmd   TransferCommand
	reply chan apiReply // buffered: the owner never blocks on it
}

type apiReply struct {
	info CallInfo
	id   string
	err  error
}

func (apiRequest) inputName() string { return "api" }

// HasCall reports whether the engine handles the call callID.
func (e *Engine) HasCall(callID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.calls {
		if c.id == callID {
			return true
		}
	}
	return false
}

// Calls lists the calls the engine handles.
func (e *Engine) Calls(ctx context.Context) ([]CallInfo, error) {
	e.mu.Lock()
	calls := make([]*call, 0, len(e.calls))
	for c := range e.calls {
		calls = append(calls, c)
	}
	e.mu.Unlock()
	var out []CallInfo
	for _, c := range calls {
		r, err := e.ask(ctx, c, apiRequest{op: "describe"})
		if errors.Is(err, ErrNoSuchCall) {
			continue // ended meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r.info)
	}
	slices.SortFunc(out, func(a, b CallInfo) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return out, nil
}

// StartTransfer transfers a call as a receptionist console would and
// returns the transfer's id. Blind and voicemail transfers complete on
// their own; an attended one holds the party (music) while the other one
// talks to the destination, until CompleteTransfer or CancelTransfer.
// Errors: ErrNoSuchCall, ErrTransferInProgress, ErrNoSuchParty, ErrRefused
// or ErrNoSuchExtension or ErrNoSuchMailbox (destination), ErrUnavailable.
func (e *Engine) StartTransfer(ctx context.Context, callID string, cmd TransferCommand) (string, error) {
	switch cmd.Kind {
	case KindBlind, KindAttended, KindVoicemail:
	default:
		return "", fmt.Errorf("transfer kind %q: want blind, attended or voicemail", cmd.Kind)
	}
	r, err := e.askID(ctx, callID, apiRequest{op: "transfer", cmd: cmd})
	return r.id, err
}

// CompleteTransfer completes a call's attended transfer started with
// StartTransfer: the held party and the destination talk.
func (e *Engine) CompleteTransfer(ctx context.Context, callID string) error {
	_, err := e.askID(ctx, callID, apiRequest{op: "complete"})
	return err
}

// CancelTransfer cancels a call's attended transfer: the destination is
// hung up and the held party talks to the other party again.
func (e *Engine) CancelTransfer(ctx context.Context, callID string) error {
	_, err := e.askID(ctx, callID, apiRequest{op: "cancel"})
	return err
}

func (e *Engine) askID(ctx context.Context, callID string, req apiRequest) (apiReply, error) {
	e.mu.Lock()
	var target *call
	for c := range e.calls {
		if c.id == callID {
			target = c
		}
	}
	e.mu.Unlock()
	if target == nil {
		return apiReply{}, fmt.Errorf("call %q: %w", callID, ErrNoSuchCall)
	}
	return e.ask(ctx, target, req)
}

func (e *Engine) ask(ctx context.Context, c *call, req apiRequest) (apiReply, error) {
	req.reply = make(chan apiReply, 1)
	if !c.box.put(req) {
		return apiReply{}, fmt.Errorf("call %q: %w", c.id, ErrNoSuchCall)
	}
	select {
	case r := <-req.reply:
		return r, r.err
	case <-ctx.Done():
		return apiReply{}, ctx.Err()
	}
}

// onAPI answers an API request in the call's owner: describe at once;
// a transfer, its completion or its cancellation through the API's
// transfer machine (apiconsult.go), whose commands answer.
func (c *call) onAPI(ctx context.Context, req apiRequest) {
	switch req.op {
	case "describe":
		req.reply <- apiReply{info: c.describe()}
	case "transfer":
		in, err := c.apiTransferAsked(req.cmd)
		if err != nil {
			req.reply <- apiReply{err: err}
			return
		}
		c.askConsult(ctx, req.reply, in)
	case "complete":
		c.askConsult(ctx, req.reply, completeAsked{})
	case "cancel":
		c.askConsult(ctx, req.reply, cancelAsked{})
	default:
		req.reply <- apiReply{err: fmt.Errorf("unknown request %q", req.op)}
	}
}

func (c *call) describe() CallInfo {
	info := CallInfo{ID: c.id, Node: c.e.cfg.Node, State: c.state.String()}
	held := c.consult.heldParty()
	for _, l := range []*leg{c.caller, c.callee, c.target} {
		if l.live() {
			role := l.role
			if held != "" && l.id == held {
				role = "held"
			}
			info.Legs = append(info.Legs, PartyInfo{Channel: l.id, Extension: l.exten, Role: role})
		}
	}
	if c.xfer != nil {
		info.Transfer = c.xfer.ev.Kind
	}
	return info
}
