package transfer

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"
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
	ID    string      `json:"id"`
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

// onAPI answers an API request in the call's owner.
func (c *call) onAPI(ctx context.Context, req apiRequest) {
	var r apiReply
	switch req.op {
	case "describe":
		r.info = c.describe()
	case "transfer":
		r.id, r.err = c.apiTransfer(ctx, req.cmd)
	case "complete":
		r.err = c.apiComplete(ctx)
	case "cancel":
		r.err = c.apiCancel(ctx, "cancelled by the API")
	default:
		r.err = fmt.Errorf("unknown request %q", req.op)
	}
	req.reply <- r
}

func (c *call) describe() CallInfo {
	info := CallInfo{ID: c.id, State: c.state.String()}
	for _, l := range []*leg{c.caller, c.callee, c.target} {
		if l.live() {
			role := l.role
			if c.consult != nil && l == c.consult.held {
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

// consultation is an attended transfer started through the API: held
// waits with music out of the bridge while transferer and target talk.
type consultation struct {
	held, transferer *leg
}

func (c *call) apiTransfer(ctx context.Context, cmd TransferCommand) (string, error) {
	if c.state != stateTalking || c.xfer != nil || c.attended.busy() || c.vm.active() {
		return "", ErrTransferInProgress
	}
	party := c.caller
	if cmd.Party != "" {
		switch {
		case c.caller.live() && c.caller.exten == cmd.Party:
			party = c.caller
		case c.callee.live() && c.callee.exten == cmd.Party:
			party = c.callee
		default:
			return "", fmt.Errorf("%q: %w", cmd.Party, ErrNoSuchParty)
		}
	}
	other := c.otherParty(party)
	if !party.live() || !other.live() {
		return "", ErrTransferInProgress
	}
	c.log.Info("transfer requested through the API", zap.String("kind", string(cmd.Kind)),
		zap.String("party", party.id), zap.String("destination", cmd.Destination))
	switch cmd.Kind {
	case KindVoicemail:
		if err := c.voicemailTransfer(ctx, other, party, cmd.Destination, false); err != nil {
			return "", err
		}
		return c.id + "-t" + fmt.Sprint(c.xferSeq), nil
	case KindBlind:
		ringing, err := c.startBlind(ctx, other, party, cmd.Destination)
		if err != nil {
			return "", err
		}
		id := c.xfer.ev.TransferID
		// The party waits with music while the destination rings (as
		// when a phone holds it); the other party leaves.
		c.hangup(ctx, other, "normal")
		c.holdWithMusic(ctx, party)
		ringing.held = true
		c.stepBlind(ctx, ringing)
		c.state = stateTransferRinging
		return id, nil
	}
	// Attended: hold the party, dial the destination for the other one.
	req := Request{Kind: KindAttended, CallID: c.id, Transferer: other.exten, Transferee: party.exten, Destination: cmd.Destination}
	target, req, err := c.dialTarget(ctx, req, other.id)
	if err != nil {
		return "", err
	}
	c.holdWithMusic(ctx, party)
	c.caller, c.callee, c.target = party, other, target
	c.consult = &consultation{held: party, transferer: other}
	c.transferStarted(KindAttended, req)
	c.transferRinging()
	c.state = stateConsulting
	return c.xfer.ev.TransferID, nil
}

// apiComplete hands the held party to the target: the transferer leaves.
// A target still ringing is connected when it answers (blind rules).
func (c *call) apiComplete(ctx context.Context) error {
	k := c.consult
	if c.state != stateConsulting || k == nil {
		return ErrNoConsultation
	}
	c.consult = nil
	if k.transferer.live() {
		c.hangup(ctx, k.transferer, "normal")
	}
	c.stopMusic(ctx, k.held)
	if !c.join(ctx, k.held) {
		c.end(ctx)
		return ErrUnavailable
	}
	if c.target.answered {
		c.callee, c.target = c.target, nil
		c.callee.role = "callee"
		c.state = stateTalking
		c.transferEnded(KindAttended, Request{}, OutcomeCompleted, "")
		c.log.Info("attended transfer completed")
		c.showEachOther(ctx, c.caller, c.callee)
		return nil
	}
	c.blindRings(ctx, c.target, c.target.exten, k.transferer.exten, false)
	c.state = stateTransferRinging
	c.log.Info("attended transfer completed while the target rings")
	return nil
}

// apiCancel ends the consultation: the target is hung up, the held party
// comes back to the transferer.
func (c *call) apiCancel(ctx context.Context, reason string) error {
	k := c.consult
	if c.state != stateConsulting || k == nil {
		return ErrNoConsultation
	}
	c.consult = nil
	if c.target.live() {
		c.leaveBridge(ctx, c.bridge, c.target)
		c.hangup(ctx, c.target, "normal")
	}
	c.target = nil
	c.caller, c.callee = k.held, k.transferer
	c.stopMusic(ctx, k.held)
	if !k.transferer.live() || !c.join(ctx, k.held) {
		c.end(ctx)
		return nil
	}
	c.state = stateTalking
	c.transferEnded(KindAttended, Request{}, OutcomeCancelled, reason)
	c.log.Info("attended transfer cancelled", zap.String("reason", reason))
	return nil
}

// consultingAnswered: the target answered; it talks to the transferer.
func (c *call) consultingAnswered(ctx context.Context) {
	if !c.join(ctx, c.target) {
		c.apiCancel(ctx, "the target could not join")
		return
	}
	c.transferAnswered()
}

// consultingLegGone: a leg hung up during an API consultation.
func (c *call) consultingLegGone(ctx context.Context, l *leg) {
	k := c.consult
	switch l {
	case c.target: // declined, busy, no answer or hung up: back to the held party
		c.apiCancel(ctx, "the destination did not take the call")
	case k.transferer: // the transferer leaving completes, as a phone would
		c.apiComplete(ctx)
	case k.held: // the held party left: the other two go on talking
		c.consult = nil
		if c.target.answered {
			c.caller, c.callee, c.target = k.transferer, c.target, nil
			c.state = stateTalking
			c.transferEnded(KindAttended, Request{}, OutcomeCancelled, "the held party hung up")
			return
		}
		c.end(ctx)
	}
}
