package transfer

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// A blind transfer is a one-step transfer: the transferer pressed Tran,
// dialled a number and pressed Tran again (REFER without Replaces), or
// asked through the API. What happens — the transferer's phone told, the
// transferee's ringback, the target answering or failing, a recall, the
// voicemail fallback — is decided by a pure state machine
// (blindmachine.go); this file feeds it and executes its commands
// (stepBlind), doing what needs Asterisk or the extensions: the policy,
// the router, dialling (startBlind, dialTarget, dialRecall).

// onTransfer handles a REFER. Only the first ChannelTransfer of a REFER is
// a request: every transfer_progress transferd posts comes back as another
// ChannelTransfer carrying that state, and those are filtered out before
// they become inputs.
func (c *call) onTransfer(ctx context.Context, in transferRequested) {
	transferer := c.legByID(in.transfererID)
	if !transferer.live() {
		// Asterisk raises ChannelTransfer once more for a REFER already
		// handled when the phone's BYE beats the progress report (seen
		// with linphone and baresip after every transfer): the leg has
		// left, its phone has hung up, nobody is there to answer. Not a
		// new REFER.
		c.log.Debug("ChannelTransfer for a leg that has left the call ignored (a REFER already handled)",
			zap.String("transferer", in.transfererID))
		return
	}
	// (A REFER of this phone: the answer to a probe of it is no other.)
	delete(c.probed, in.transfererID)
	c.awaitReferHandled(ctx, in.transfererID)
	if c.state != stateTalking {
		c.log.Info("transfer refused: call is not in a state to transfer",
			zap.Stringer("state", c.state), zap.String("transferer", in.transfererID))
		c.progress(ctx, in.transfererID, progressDeclined)
		return
	}
	// (A voicemail entry being keyed gives way; its held party is back.)
	c.stepEntry(ctx, transferTakesOver{})
	c.recordRefer(ctx, in)
	if in.replaces != "" {
		c.onAttendedTransfer(ctx, in, transferer)
		return
	}
	transferee := c.caller
	if transferer == c.caller {
		transferee = c.callee
	}
	c.blindReferred(ctx, transferer, transferee, in.destination, false)
}

// blindReferred starts a blind transfer a REFER asked for (byAsterisk:
// one Asterisk carried out itself, core handling); once under way, the
// call is in its transfer's ringing.
func (c *call) blindReferred(ctx context.Context, transferer, transferee *leg, destination string, byAsterisk bool) {
	c.stepBlind(ctx, blindReferred{transferer: party{channel: transferer.id, exten: transferer.exten},
		transferee: transferee.id, destination: destination, byAsterisk: byAsterisk})
	if c.blind.active() && c.state == stateTalking {
		c.state = stateTransferRinging
	}
}

// startBlind checks and dials a blind transfer of transferee to
// destination, and returns the input that starts the blind transfer's
// machine once the caller has set how the transferee waits (stepBlind).
// An error wraps ErrRefused (policy), ErrNoSuchExtension or
// ErrUnavailable; nothing has changed then.
func (c *call) startBlind(ctx context.Context, transferer, transferee *leg, destination string) (targetRinging, error) {
	req := Request{Kind: KindBlind, CallID: c.id, Transferer: transferer.exten, Transferee: transferee.exten, Destination: destination}
	target, req, err := c.dialTarget(ctx, req, transferee.id)
	if err != nil {
		return targetRinging{}, err
	}
	// From here the transferee is the call's caller: the leg that stays.
	c.caller, c.callee, c.target = transferee, transferer, target
	c.log.Debug("blind transfer accepted", zap.String("transfer", string(KindBlind)), zap.String("destination", req.Destination),
		zap.String("transferer", transferer.id), zap.String("transferee", transferee.id))
	c.transferStarted(KindBlind, req)
	c.transferRinging()
	return targetRinging{transferee: transferee.id, target: target.id, destination: req.Destination,
		transferer: transferer.exten}, nil
}

// dialTarget applies the transfer policy to req, routes its (possibly
// rewritten) destination and dials it for originator. It returns the
// target's leg and the request as carried out. An error wraps ErrRefused
// (policy), ErrNoSuchExtension or ErrUnavailable; the failure is reported
// to the Observer (and logged as the transfer's end), and nothing has
// changed.
func (c *call) dialTarget(ctx context.Context, req Request, originator string) (*leg, Request, error) {
	req, err := decide(ctx, c.e.policy, req)
	if err != nil {
		c.transferEnded(req.Kind, req, OutcomeRefused, err.Error())
		return nil, req, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	dialString, err := c.e.router.Route(ctx, req.Destination)
	if err != nil {
		c.transferEnded(req.Kind, req, OutcomeRefused, err.Error())
		return nil, req, err
	}
	target, err := c.dialLeg(ctx, "target", req.Destination, dialString, originator)
	if err != nil {
		c.transferEnded(req.Kind, req, OutcomeFailed, err.Error())
		return nil, req, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return target, req, nil
}

// blindRings starts the blind transfer's machine for a target (or a
// recall) already dialled: the transferee, the call's caller, hears
// ringback while target rings. destination is the extension dialled ("" on
// a recall), transferer the transferer's extension ("" when unknown).
func (c *call) blindRings(ctx context.Context, target *leg, destination, transferer string, recall bool) {
	c.stepBlind(ctx, targetRinging{transferee: c.caller.id, target: target.id, destination: destination,
		transferer: transferer, ringback: true, recall: recall})
}

// stepBlind applies one input to the call's blind transfer (blindmachine.go),
// logs the transition — one Info line (call, from-state, input, to-state,
// commands) standing for the transfer's step — and executes the commands,
// in order. A command with a result
// (the last of its batch) has it fed back at once, before any other input.
func (c *call) stepBlind(ctx context.Context, in blindInput) {
	machineRun[blindMachine, blindInput, blindCommand]{name: "blind transfer", state: &c.blind, step: blindMachine.Step,
		// (Routine results at Debug: at Info, a blind transfer logged
		// five lines instead of two, under load too.)
		exec: func(cmd blindCommand) blindInput { return c.execBlind(ctx, cmd) }, routine: routineResult}.run(c.log, in)
}

// routineResult tells the result of a request that succeeded (the target
// dialled, ringback started, a leg joined, the transferer rung back) from
// the inputs that change what people hear or see.
func routineResult(in blindInput) bool {
	switch in := in.(type) {
	case targetDialled:
		return true
	case ringbackStarted:
		return in.ok
	case joined:
		return in.ok
	case recallDialled:
		return in.reason == ""
	}
	return false
}

// execBlind executes one command of the blind transfer's machine and
// returns its result, for the commands that have one.
func (c *call) execBlind(ctx context.Context, cmd blindCommand) blindInput {
	switch cmd := cmd.(type) {
	case dialTarget:
		ringing, err := c.startBlind(ctx, c.legNamed(cmd.transferer.channel), c.legNamed(cmd.transferee), cmd.destination)
		if err != nil {
			return targetNotDialled{refused: errors.Is(err, ErrRefused), reason: err.Error()}
		}
		return targetDialled{target: ringing.target, destination: ringing.destination}
	case checkMailbox:
		return c.checkVoicemailTransfer(ctx, cmd)
	case dialMailbox:
		target, err := c.dialMailboxElsewhere(ctx, c.legNamed(cmd.transferee), cmd.mailbox, cmd.dial)
		if err != nil {
			return targetNotDialled{reason: err.Error()}
		}
		return targetDialled{target: target.id, destination: cmd.mailbox}
	case startRingback:
		cctx, cancel := c.cmdCtx(ctx)
		defer cancel()
		if err := c.e.ast.Ring(cctx, cmd.channel); err != nil {
			c.log.Warn("ringback to transferee failed", zap.Error(err))
			return ringbackStarted{ok: false}
		}
		return ringbackStarted{ok: true}
	case stopRingback:
		cctx, cancel := c.cmdCtx(ctx)
		defer cancel()
		if err := c.e.ast.RingStop(cctx, cmd.channel); err != nil && !isGone(err) {
			c.log.Warn("stop ringback failed", zap.Error(err))
		}
	case reportAnswered:
		c.transferAnswered()
	case reportOutcome:
		c.reportOutcome(cmd)
	case dialRecall:
		target, err := c.dialRecall(ctx, cmd.exten, cmd.transferee)
		if err != nil {
			return recallDialled{reason: err.Error()}
		}
		c.target = target
		return recallDialled{channel: target.id}
	case talkToTarget:
		c.callee, c.target = c.legNamed(cmd.target), nil
		c.state = stateTalking
	default:
		if j := c.execSharedOf(ctx, "blind transfer", cmd); j != nil {
			return *j
		}
	}
	return nil
}

// checkVoicemailTransfer applies the policy to a voicemail transfer a
// REFER asked for and checks its mailbox.
func (c *call) checkVoicemailTransfer(ctx context.Context, cmd checkMailbox) blindInput {
	transferee := c.legNamed(cmd.transferee)
	req := Request{Kind: KindVoicemail, CallID: c.id, Transferer: cmd.transferer.exten, Transferee: transferee.exten, Destination: cmd.mailbox}
	mailbox, dial, err := c.checkMailbox(ctx, req, transferee)
	if err != nil {
		c.transferEnded(KindVoicemail, req, OutcomeRefused, err.Error())
		return mailboxChecked{reason: err.Error()}
	}
	req.Destination = mailbox
	c.transferStarted(KindVoicemail, req)
	return mailboxChecked{mailbox: mailbox, dial: dial}
}

// reportOutcome tells the Observer how the call's transfer ended.
func (c *call) reportOutcome(cmd reportOutcome) {
	if c.xfer == nil {
		return
	}
	if cmd.destination != "" {
		c.xfer.ev.Destination = cmd.destination
	}
	c.transferEnded(c.xfer.ev.Kind, Request{}, cmd.outcome, cmd.reason)
}

// dialRecall rings the transferer's extension back for transferee.
func (c *call) dialRecall(ctx context.Context, exten, transferee string) (*leg, error) {
	dialString, err := c.e.router.Route(ctx, exten)
	if err != nil {
		return nil, err
	}
	return c.dialLeg(ctx, "recall", exten, dialString, transferee)
}

// recallTransferer rings the transferer (its leg's phone) back for the
// transferee, who hears ringback; the blind transfer's rules apply from
// then on (blindmachine.go: recallRequested). Should the recall fail, the
// transferee goes to mailbox ("": the call ends).
func (c *call) recallTransferer(ctx context.Context, transferer, transferee *leg, mailbox string) {
	c.caller, c.callee, c.target = transferee, transferer, nil
	c.stepBlind(ctx, recallRequested{transferee: transferee.id, transferer: transferer.exten, mailbox: mailbox})
	if c.blind.active() {
		c.state = stateTransferRinging
	}
}

// awaitReferHandled starts waiting, beside the transfer's own requests, for
// Asterisk to finish taking in the REFER the phone on channelID just sent;
// the REFER's first progress report waits for it (progress).
//
// Why: Asterisk 22.10.1 (res_pjsip_refer, refer_incoming_ari_request)
// sends the ChannelTransfer event before it stores the state a progress
// report writes to (progress->ari_state). A report that reaches the
// channel in between makes refer_ari_progress_framehook write through a
// NULL pointer, and Asterisk crashes ("segfault at 80 ... in
// res_pjsip_refer.so"; load harness, 50 concurrent calls: once in about
// 10,000 transfers). The gap is two instructions unless the SIP thread is
// preempted between them. No event marks its end, but a request answered
// by that same thread does (Asterisk.AwaitReferHandled). It runs in its own
// goroutine so that it costs the phone no round trip: it touches no call
// state, and the owner goroutine only waits for it to end.
func (c *call) awaitReferHandled(ctx context.Context, channelID string) {
	handled := make(chan struct{})
	if c.referHandled == nil {
		c.referHandled = make(map[string]chan struct{}, 1)
	}
	c.referHandled[channelID] = handled
	cctx, cancel := c.cmdCtx(ctx)
	ast, log := c.e.ast, c.log
	go func() {
		defer close(handled)
		defer cancel()
		if err := ast.AwaitReferHandled(cctx, channelID); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("could not wait for Asterisk to finish taking a REFER in; its progress is reported anyway",
				zap.String("channel", channelID), zap.Error(err))
		}
	}()
}

// progress reports a transfer's progress to the transferer's phone.
func (c *call) progress(ctx context.Context, channelID, state string) {
	if l := c.legByID(channelID); l != nil && l.local {
		return // core handling: Asterisk has told the phone itself
	}
	if state != progressAnswered {
		c.forgetRefer(ctx, channelID)
	}
	if handled, ok := c.referHandled[channelID]; ok {
		delete(c.referHandled, channelID)
		<-handled // bounded by the command timeout
	}
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.TransferProgress(cctx, channelID, state); err != nil && !errors.Is(err, context.Canceled) {
		c.log.Warn("transfer progress not delivered", zap.String("state", state), zap.Error(err))
	}
}
