package transfer

import (
	"context"
	"fmt"
	"strconv"

	"go.uber.org/zap"
)

// The owner's side of the transfers started through the API: what is
// decided is the API's transfer machine's (consultmachine.go); this file
// checks a request against the call, feeds the machine and executes its
// commands (stepConsult), doing what needs Asterisk or the extensions
// (the policy, the router, dialling, the mailbox check) and answering the
// request that waits.

// apiTransferAsked checks a transfer request against the call and returns
// the machine's input. An error is the API's answer at once, and nothing
// changes: the call is not free for a transfer (it does not talk, or a
// phone's transfer or *8 entry is under way: ErrTransferInProgress) or no
// party of it has the extension asked for (ErrNoSuchParty). The party
// named (by default the caller) is held; the other is the transferer.
func (c *call) apiTransferAsked(cmd TransferCommand) (transferAsked, error) {
	if c.state != stateTalking || c.xfer != nil || c.attended.busy() || c.vm.active() {
		return transferAsked{}, ErrTransferInProgress
	}
	held := c.caller
	if cmd.Party != "" {
		switch {
		case c.caller.live() && c.caller.exten == cmd.Party:
			held = c.caller
		case c.callee.live() && c.callee.exten == cmd.Party:
			held = c.callee
		default:
			return transferAsked{}, fmt.Errorf("%q: %w", cmd.Party, ErrNoSuchParty)
		}
	}
	transferer := c.otherParty(held)
	if !held.live() || !transferer.live() {
		return transferAsked{}, ErrTransferInProgress
	}
	return transferAsked{kind: cmd.Kind, held: party{channel: held.id, exten: held.exten},
		transferer: party{channel: transferer.id, exten: transferer.exten}, destination: cmd.Destination, bridge: c.bridge}, nil
}

// askConsult feeds the machine an API request; its replyAPI command
// answers on reply, before stepConsult returns.
func (c *call) askConsult(ctx context.Context, reply chan apiReply, in consultInput) {
	c.apiReply = reply
	c.stepConsult(ctx, in)
	if c.apiReply != nil {
		// (A machine that forgot to answer must not leave the API's
		// caller waiting for its ctx.)
		c.log.Error("API transfer: the request was not answered", zap.Stringer("input", in), zap.Stringer("state", c.consult))
		c.apiReply <- apiReply{err: fmt.Errorf("%s: not answered", in)}
		c.apiReply = nil
	}
}

// stepConsult applies one input to the call's API transfer
// (consultmachine.go), logs the transition and executes the commands, in
// order; a command with a result (the last of its batch) has it fed back
// at once, before any other input.
func (c *call) stepConsult(ctx context.Context, in consultInput) {
	machineRun[consultMachine, consultInput, consultCommand]{name: "API transfer", state: &c.consult, step: consultMachine.Step,
		exec: func(cmd consultCommand) consultInput { return c.execConsult(ctx, cmd) }, routine: consultRoutine}.run(c.log, in)
}

// consultRoutine tells the result of a request that went as expected
// from the inputs that change what people hear or see.
func consultRoutine(in consultInput) bool {
	switch in := in.(type) {
	case targetDialled:
		return true
	case joined:
		return in.ok
	}
	return false
}

// execConsult executes one command of the API transfer's machine and
// returns its result, for the commands that have one.
func (c *call) execConsult(ctx context.Context, cmd consultCommand) consultInput {
	switch cmd := cmd.(type) {
	case dialDestination:
		held, transferer := c.legNamed(cmd.held.channel), c.legNamed(cmd.transferer.channel)
		if cmd.kind == KindBlind {
			ringing, err := c.startBlind(ctx, transferer, held, cmd.destination)
			if err != nil {
				return destinationNotDialled{err: err}
			}
			return targetDialled{target: ringing.target, destination: ringing.destination}
		}
		req := Request{Kind: cmd.kind, CallID: c.id, Transferer: transferer.exten, Transferee: held.exten, Destination: cmd.destination}
		target, req, err := c.dialTarget(ctx, req, transferer.id)
		if err != nil {
			return destinationNotDialled{err: err}
		}
		// (The call's target from its dial on: beginConsultation names
		// the other parties.)
		c.target = target
		return targetDialled{target: target.id, destination: req.Destination}
	case sendToMailbox:
		return sentToMailbox{err: c.voicemailTransfer(ctx, c.legNamed(cmd.transferer.channel), c.legNamed(cmd.held.channel), cmd.mailbox)}
	case beginConsultation:
		c.caller, c.callee, c.target = c.legNamed(cmd.held.channel), c.legNamed(cmd.transferer.channel), c.legNamed(cmd.target)
		c.transferStarted(KindAttended, Request{Kind: KindAttended, CallID: c.id, Transferer: cmd.transferer.exten,
			Transferee: cmd.held.exten, Destination: cmd.destination})
		c.transferRinging()
		c.state = stateConsulting
	case holdWithMusic:
		c.holdWithMusic(ctx, c.legNamed(cmd.channel))
	case reportAnswered:
		c.transferAnswered()
	case handToBlind:
		c.stepBlind(ctx, cmd.ringing)
		c.state = stateTransferRinging
	case nowTalking:
		c.state = stateTalking
	case talkOn:
		c.caller, c.callee, c.target = c.legNamed(cmd.transferer), c.legNamed(cmd.target), nil
		c.state = stateTalking
	case reportOutcome:
		c.transferEnded(KindAttended, Request{}, cmd.outcome, cmd.reason)
	case replyAPI:
		c.answerAPI(cmd)
	default:
		if j := c.execSharedOf(ctx, "API transfer", cmd); j != nil {
			return *j
		}
	}
	return nil
}

// answerAPI sends the machine's answer to the API request waiting for it.
func (c *call) answerAPI(cmd replyAPI) {
	if c.apiReply == nil {
		c.log.Error("API transfer: an answer with no request waiting", zap.Stringer("command", cmd))
		return
	}
	var r apiReply
	switch cmd.answer {
	case answerStarted:
		// The transfer the request started is the call's latest
		// (transferStarted; a voicemail transfer has ended already).
		r.id = c.id + "-t" + strconv.Itoa(c.xferSeq)
	case answerDone:
	case answerNotStarted:
		r.err = cmd.err
	case answerInProgress:
		r.err = ErrTransferInProgress
	case answerNoConsultation:
		r.err = ErrNoConsultation
	case answerUnavailable:
		r.err = ErrUnavailable
	case answerCallEnded:
		r.err = fmt.Errorf("call %q has ended: %w", c.id, ErrNoSuchCall)
	default:
		r.err = fmt.Errorf("%s: unknown answer", cmd)
	}
	c.apiReply <- r
	c.apiReply = nil
}
