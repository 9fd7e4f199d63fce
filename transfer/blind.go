package transfer

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// blindTransfer is a one-step transfer under way: the transferer pressed
// Tran, dialled a number and pressed Tran again (REFER without Replaces).
type blindTransfer struct {
	destination string
	transferer  string // extension of the transferer, for a recall
	ringback    bool   // the transferee hears ringing
	recalling   bool   // the target failed; the transferer is being rung back
	// held: the transferee waits out of the bridge with music on hold
	// (transfers started through the API) instead of hearing ringback.
	held bool
}

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
	c.awaitReferHandled(ctx, in.transfererID)
	if c.state != stateTalking {
		c.log.Info("transfer refused: call is not in a state to transfer",
			zap.Stringer("state", c.state), zap.String("transferer", in.transfererID))
		c.progress(ctx, in.transfererID, progressDeclined)
		return
	}
	c.recordRefer(ctx, in)
	if in.replaces != "" {
		c.onAttendedTransfer(ctx, in, transferer)
		return
	}
	transferee := c.caller
	if transferer == c.caller {
		transferee = c.callee
	}
	if mailbox, ok := c.voicemailDestination(in.destination); ok {
		c.voicemailByRefer(ctx, transferer, transferee, mailbox)
		return
	}
	switch err := c.startBlind(ctx, transferer, transferee, in.destination); {
	case errors.Is(err, ErrRefused):
		c.progress(ctx, transferer.id, progressDeclined)
	case err != nil:
		c.progress(ctx, transferer.id, progressUnavailable)
	default:
		// The transferer's phone now sees the transfer succeed and hangs
		// up; its leg leaves so the transferee no longer hears it.
		c.progress(ctx, transferer.id, progressAnswered)
		c.finishBlindStart(ctx, transferer)
	}
}

// startBlind checks and dials a blind transfer of transferee to
// destination. An error wraps ErrRefused (policy), ErrNoSuchExtension or
// ErrUnavailable; nothing has changed then.
func (c *call) startBlind(ctx context.Context, transferer, transferee *leg, destination string) error {
	req := Request{Kind: KindBlind, CallID: c.id, Transferer: transferer.exten, Transferee: transferee.exten, Destination: destination}
	target, req, err := c.dialTarget(ctx, req, transferee.id)
	if err != nil {
		return err
	}
	// From here the transferee is the call's caller: the leg that stays.
	c.caller, c.callee, c.target = transferee, transferer, target
	c.blind = &blindTransfer{destination: req.Destination, transferer: transferer.exten}
	c.log.Info("blind transfer accepted", zap.String("transfer", string(KindBlind)), zap.String("destination", req.Destination),
		zap.String("transferer", transferer.id), zap.String("transferee", transferee.id))
	c.transferStarted(KindBlind, req)
	c.transferRinging()
	return nil
}

// dialTarget applies the transfer policy to req, routes its (possibly
// rewritten) destination and dials it for originator. It returns the
// target's leg and the request as carried out. An error wraps ErrRefused
// (policy), ErrNoSuchExtension or ErrUnavailable; the failure is logged
// and reported to the Observer, and nothing has changed.
func (c *call) dialTarget(ctx context.Context, req Request, originator string) (*leg, Request, error) {
	log := c.log.With(zap.String("transfer", string(req.Kind)), zap.String("destination", req.Destination))
	req, err := decide(ctx, c.e.policy, req)
	if err != nil {
		log.Info("transfer refused", zap.Error(err))
		c.transferEnded(req.Kind, req, OutcomeRefused, err.Error())
		return nil, req, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	dialString, err := c.e.router.Route(ctx, req.Destination)
	if err != nil {
		log.Info("transfer to unknown destination", zap.Error(err))
		c.transferEnded(req.Kind, req, OutcomeRefused, err.Error())
		return nil, req, err
	}
	target, err := c.dialLeg(ctx, "target", req.Destination, dialString, originator)
	if err != nil {
		log.Info("transfer target cannot be dialled", zap.Error(err))
		c.transferEnded(req.Kind, req, OutcomeFailed, err.Error())
		return nil, req, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return target, req, nil
}

// finishBlindStart: the transferer leaves and the transferee hears ringing
// while the target rings.
func (c *call) finishBlindStart(ctx context.Context, transferer *leg) {
	c.letPhoneHangUp(ctx, transferer)
	c.stopHoldMusic(ctx, transferer, c.caller)
	c.startRingback(ctx)
	c.state = stateTransferRinging
}

// startRingback plays ringing to the transferee: once the transferer left
// the bridge, Asterisk's hold music stops and the transferee would hear
// silence while the target rings.
func (c *call) startRingback(ctx context.Context) {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.Ring(cctx, c.caller.id); err != nil {
		c.log.Warn("ringback to transferee failed", zap.Error(err))
		return
	}
	c.blind.ringback = true
}

func (c *call) stopRingback(ctx context.Context) {
	if !c.blind.ringback {
		return
	}
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.RingStop(cctx, c.caller.id); err != nil && !isGone(err) {
		c.log.Warn("stop ringback failed", zap.Error(err))
	}
	c.blind.ringback = false
}

// blindAnswered: the target answered; transferee and target talk.
func (c *call) blindAnswered(ctx context.Context) {
	c.stopRingback(ctx)
	if c.blind.held {
		c.stopMusic(ctx, c.caller)
		if !c.join(ctx, c.caller) {
			c.end(ctx)
			return
		}
		c.blind.held = false
	}
	if !c.join(ctx, c.target) {
		c.end(ctx)
		return
	}
	// The transferee's phone still shows the transferer: tell it who it
	// talks to now. (The target's phone showed the transferee from its
	// first ring: dialLeg.)
	c.showConnected(ctx, c.caller, c.target)
	c.log.Info("blind transfer completed", zap.String("target", c.target.id), zap.Bool("recall", c.blind.recalling))
	c.transferAnswered()
	if c.xfer != nil {
		outcome := OutcomeCompleted
		if c.blind.recalling {
			outcome = OutcomeRecalled
		}
		c.transferEnded(c.xfer.ev.Kind, Request{}, outcome, "")
	}
	c.callee, c.target, c.blind = c.target, nil, nil
	c.state = stateTalking
}

// blindTargetUnavailable: the target is busy, did not answer or does not
// exist. Send the transferee to the target's voicemail, or ring the
// transferer back, as configured.
func (c *call) blindTargetUnavailable(ctx context.Context, status string) {
	b := c.blind
	c.log.Info("blind transfer target unavailable", zap.String("dial_status", status),
		zap.String("destination", b.destination), zap.Bool("recall", b.recalling))
	c.stopRingback(ctx)
	mailbox := b.destination
	if c.e.cfg.TransferNoAnswer == NoAnswerRecall && !b.recalling && b.transferer != "" {
		if err := c.recall(ctx); err == nil {
			return
		} else {
			c.log.Info("recall failed; sending to the target's voicemail", zap.Error(err))
		}
	}
	if b.recalling {
		mailbox = b.transferer
	}
	if c.xfer != nil {
		c.transferEnded(c.xfer.ev.Kind, Request{}, OutcomeVoicemail, "target "+status)
	}
	if b.held {
		c.stopMusic(ctx, c.caller)
	}
	c.toVoicemail(ctx, c.caller, mailbox)
}

// recall rings the transferer back for the transferee.
func (c *call) recall(ctx context.Context) error {
	b := c.blind
	dialString, err := c.e.router.Route(ctx, b.transferer)
	if err != nil {
		return err
	}
	target, err := c.dialLeg(ctx, "recall", b.transferer, dialString, c.caller.id)
	if err != nil {
		return err
	}
	c.target = target
	b.recalling = true
	c.startRingback(ctx)
	return nil
}

// blindLegGone: a leg hung up while the target rings.
func (c *call) blindLegGone(ctx context.Context, l *leg, cause int) {
	switch l {
	case c.callee:
		// The transferer hanging up is the normal end of its part.
	case c.caller:
		c.end(ctx) // the target stops ringing
	case c.target:
		if !l.answered {
			c.blindTargetUnavailable(ctx, dialStatusFromCause(cause))
			return
		}
		c.end(ctx)
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
