package transfer

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
)

// An attended (two-step) transfer, the side of the call that received
// the REFER with Replaces (or whose transferer hung up while consulting,
// or that Asterisk linked to the consultation itself): what happens is
// decided by a pure state machine (attendedmachine.go); this file feeds it
// and executes its commands (stepAttended). The consultation call's side
// is in handover.go.

// onAttendedTransfer handles a REFER with Replaces received on one of this
// call's legs while it talks.
func (c *call) onAttendedTransfer(ctx context.Context, in transferRequested, transferer *leg) {
	consultation := ""
	if other := c.e.ownerOf(in.consultID); in.consultID != "" && other != nil && other != c {
		consultation = c.toHandOver(other, transferer)
	}
	c.stepAttended(ctx, attendedReferred{transferer: party{channel: transferer.id, exten: transferer.exten},
		transferee: c.otherParty(transferer).id, bridge: c.bridge, consultID: in.consultID, consultation: consultation})
}

// toHandOver notes the consultation call a transfer by transferer is to
// ask (unless a transfer is under way or its phone is still owed its
// outcome: the machine declines that one) and returns its id for the
// machine.
func (c *call) toHandOver(other *call, transferer *leg) string {
	if !c.attended.engaged() {
		c.handOverTo = other
		c.attendedLegs = []*leg{transferer, c.otherParty(transferer)}
	}
	return other.id
}

// attendedRequest describes an attended transfer by transferer for the
// policy and the observer (the destination is known to the consultation).
func (c *call) attendedRequest(transferer *leg) Request {
	return Request{Kind: KindAttended, CallID: c.id, Transferer: transferer.exten, Transferee: c.otherParty(transferer).exten}
}

// otherParty is the leg a transferer talks to in this call.
func (c *call) otherParty(l *leg) *leg {
	if l == c.caller {
		return c.callee
	}
	return c.caller
}

// onAbsorbed: the consultation call merged into this one; the machine
// completes the transfer with its legs.
func (c *call) onAbsorbed(ctx context.Context, a absorbed) {
	c.ids = append(c.ids, a.ids...)
	c.extens = append(c.extens, a.extens...)
	canComplete := false
	if transferer := c.legByID(c.attended.transferer); transferer != nil {
		transferee := c.otherParty(transferer)
		canComplete = transferee.live() && !c.hangupPending(transferee) && c.state == stateTalking
	}
	c.merging = &a
	c.attendedLegs = append(c.attendedLegs, a.consult, a.party)
	c.stepAttended(ctx, consultationMerged{consultation: a.callID, bridge: a.bridge, consult: a.consult.id,
		colleague: party{channel: a.party.id, exten: a.party.exten}, talking: a.state == stateTalking,
		consultLive: a.consult.live(), consultUnanswered: !a.consult.created, colleagueInBridge: a.party.inBridge,
		canComplete: canComplete})
	c.merging = nil
}

// attendedLegGone feeds a hangup to the attended transfer when it
// concerns its transferer, and reports whether the call is to go on as if
// nothing happened: phones often hang up right after a REFER, and the
// completion under way carries on without them.
func (c *call) attendedLegGone(ctx context.Context, in legGone) bool {
	m := c.attended
	if in.channelID != m.transferer || !(m.busy() || m.telling()) {
		return false
	}
	awaited := m.awaitsTransferer(in.channelID)
	c.stepAttended(ctx, legHungUp{channel: in.channelID, cause: in.cause})
	if l := c.legByID(in.channelID); awaited && l != nil && !l.gone {
		l.gone, l.inBridge = true, false
		c.log.Info("transferer hung up; the transfer goes on", zap.String("channel", l.id), zap.Int("cause", in.cause))
	}
	return awaited
}

// talkingLegGone: a leg of a bridged call hung up. A transferer who hangs
// up with the other party on hold while consulting someone completes the
// transfer (or, configured so, ends the consultation and is rung back):
// the held party is never abandoned.
func (c *call) talkingLegGone(ctx context.Context, l *leg) {
	if c.stepEntry(ctx, partyHungUp{channel: l.id}) {
		return // the user finished keying *8 and a number
	}
	held := c.otherParty(l)
	left := talkingHangup{channel: l.id, holding: l.holding, otherLive: held.live(), transferBusy: c.attended.engaged(),
		recall: c.e.cfg.TransfererHangup == TransfererHangupRecall}
	var consultation *call
	if left.holding && left.otherLive && !left.transferBusy {
		// (Only then: callsOf copies a list; every hangup of a call
		// paid for it, measured.)
		if consultations := c.e.callsOf(l.exten, c); len(consultations) > 0 {
			consultation = consultations[0]
			left.consultation = consultation.id
		}
	}
	verdict := decideTalkingHangup(left)
	if verdict == verdictEnd {
		c.end(ctx)
		return
	}
	c.stepEntry(ctx, transferTakesOver{}) // (a voicemail entry gives way)
	c.log.Info("transferer hung up during a consultation", zap.String("transferer", l.id),
		zap.String("consult_call", consultation.id), zap.Stringer("verdict", verdict))
	c.stepAttended(ctx, transfererLeftHolding{transferer: party{channel: l.id, exten: l.exten}, transferee: held.id,
		bridge: c.bridge, consultation: c.toHandOver(consultation, l), recall: verdict == verdictRecall})
}

// stepAttended applies one input to the call's attended transfer
// (attendedmachine.go), logs the transition and executes the commands, in
// order; a command with a result (the last of its batch) has it fed back
// at once, before any other input.
func (c *call) stepAttended(ctx context.Context, in attendedInput) {
	machineRun[attendedMachine, attendedInput, attendedCommand]{name: "attended transfer", state: &c.attended,
		step: attendedMachine.Step, exec: func(cmd attendedCommand) attendedInput { return c.execAttended(ctx, cmd) },
		routine: attendedRoutine, changed: func(from, to attendedMachine) {
			switch {
			case !from.telling() && to.telling():
				// A replica handing its connection over waits for these
				// (Engine.Quiet): a successor would not know the phone is
				// owed its NOTIFY.
				c.e.deferring.Add(1)
			case from.telling() && !to.telling():
				c.e.deferring.Add(-1)
			}
		}}.run(c.log, in)
}

// attendedRoutine tells the result of a request that went as expected
// from the inputs that change what people hear or see.
func attendedRoutine(in attendedInput) bool {
	switch in := in.(type) {
	case handOverAsked:
		return in.ok
	case joined:
		return in.ok
	case consultDestroyed, legHungUp:
		return true
	}
	return false
}

// execAttended executes one command of the attended transfer's machine
// and returns its result, for the commands that have one.
func (c *call) execAttended(ctx context.Context, cmd attendedCommand) attendedInput {
	switch cmd := cmd.(type) {
	case reportStarted:
		transferer, transferee := c.legNamed(cmd.transferer), c.legNamed(cmd.transferee)
		c.transferStarted(KindAttended, Request{Kind: KindAttended, CallID: c.id, Transferer: transferer.exten, Transferee: transferee.exten})
	case reportRefused:
		c.transferEnded(KindAttended, c.attendedRequest(c.legNamed(cmd.transferer)), OutcomeRefused, cmd.reason)
	case askHandOver:
		return c.askHandOver(cmd)
	case unlink:
		c.unlink(ctx, c.legNamed(cmd.channel))
	case carryOn:
		if c.merging != nil && c.merging.callID == cmd.consultation {
			c.adopt(ctx, *c.merging)
		}
	case completeAtOnce:
		return c.completeAtOnce(ctx, cmd)
	case ringColleague:
		transferer := c.legNamed(c.attended.transferer)
		colleague := c.legNamed(cmd.colleague.channel)
		c.caller, c.callee, c.target = c.legNamed(cmd.transferee), transferer, colleague
		colleague.role = "target"
		c.blindRings(ctx, colleague, cmd.colleague.exten, cmd.transferer, false)
		c.state = stateTransferRinging
		if c.xfer != nil {
			c.xfer.ev.Destination = cmd.colleague.exten
			c.transferRinging()
		}
	case answerLeg:
		cctx, cancel := c.cmdCtx(ctx)
		defer cancel()
		if err := c.e.ast.Answer(cctx, cmd.channel); err != nil && !isGone(err) {
			c.log.Warn("answer consultation leg before hanging it up failed", zap.String("consult", cmd.channel), zap.Error(err))
		}
	case musicWhileHeld:
		if c.legNamed(cmd.holder).holding {
			c.musicUntilResumed(ctx, c.legNamed(cmd.held))
		}
	case startTellTimer:
		box, consult := c.box, cmd.consult
		c.tellTimer = time.AfterFunc(destroyWait, func() { box.put(deferredProgressDue{consultID: consult}) })
	case stopTellTimer:
		if c.tellTimer != nil {
			c.tellTimer.Stop()
			c.tellTimer = nil
		}
	case hangupReplaced:
		c.hangupReplaced(ctx)
	case ringTransfererBack:
		transferer := c.legNamed(cmd.transferer)
		c.recallTransferer(ctx, transferer, c.legNamed(cmd.transferee), transferer.exten)
	case reportOutcome:
		c.reportOutcome(cmd)
	default:
		if j := c.execSharedOf(ctx, "attended transfer", cmd); j != nil {
			return *j
		}
	}
	return nil
}

// askHandOver sends the consultation call the request to hand itself over.
func (c *call) askHandOver(cmd askHandOver) attendedInput {
	other := c.handOverTo
	c.handOverTo = nil
	if other == nil || other.id != cmd.consultation {
		return handOverAsked{ok: false}
	}
	transferer := c.legNamed(c.attended.transferer)
	return handOverAsked{ok: other.box.put(handOverRequest{from: c, consultID: cmd.consultID,
		transfererExten: cmd.transfererExten, request: c.attendedRequest(transferer), end: cmd.end})}
}

// completeAtOnce sends what the transferer's phone waits for as
// requests at once: each concerns its own channel, so one round trip
// instead of three. The requests touch no call state; their results are
// applied here, on the owner goroutine, once all have returned.
//
// The consultation leg is hung up (Asterisk takes it out of its bridge
// and starts destroying it, which the phone's NOTIFY waits for), the
// transferer's first leg leaves the call's bridge and the colleague moves
// into it (ARI takes a channel out of its Stasis bridge when it is added
// to another).
func (c *call) completeAtOnce(ctx context.Context, cmd completeAtOnce) attendedInput {
	transferer, colleague := c.legNamed(cmd.transferer), c.legNamed(cmd.colleague)
	var consult *leg
	if cmd.consult != "" {
		consult = c.legNamed(cmd.consult)
	}
	errs := c.atOnce(ctx,
		func(ctx context.Context) error {
			if consult == nil {
				return nil
			}
			return c.e.ast.Hangup(ctx, consult.id, "normal")
		},
		func(ctx context.Context) error { return c.e.ast.RemoveFromBridge(ctx, cmd.bridge, transferer.id) },
		func(ctx context.Context) error { return c.e.ast.AddToBridge(ctx, cmd.bridge, colleague.id) },
	)
	if consult != nil {
		if err := errs[0]; err != nil && !isGone(err) {
			c.log.Warn("hangup failed", zap.String("channel", consult.id), zap.Error(err))
		}
		consult.gone, consult.inBridge = true, false
	}
	if err := errs[1]; err != nil && !isGone(err) && !errors.Is(err, ari.ErrUnprocessable) {
		c.log.Warn("remove from bridge failed", zap.String("bridge", cmd.bridge), zap.String("channel", transferer.id), zap.Error(err))
	}
	transferer.inBridge = false
	if err := errs[2]; err != nil {
		c.log.Warn("add to bridge failed", zap.String("channel", colleague.id), zap.Error(err))
		return completedAtOnce{joined: false, colleagueLive: colleague.live()}
	}
	colleague.inBridge = true
	return completedAtOnce{joined: true, colleagueLive: colleague.live()}
}

// atOnce sends requests at once, each bounded like any request, and
// returns their errors in order.
func (c *call) atOnce(ctx context.Context, requests ...func(context.Context) error) []error {
	errs := make([]error, len(requests))
	var wg sync.WaitGroup
	for i, request := range requests {
		wg.Go(func() {
			cctx, cancel := c.cmdCtx(ctx)
			defer cancel()
			errs[i] = request(cctx)
		})
	}
	wg.Wait()
	return errs
}

// destroyWait bounds how long an attended transfer's final NOTIFY waits
// for Asterisk to destroy the consultation leg; it takes milliseconds.
//
// Why wait at all (the machine's telling-transferer phase): with
// ari-only handling, Asterisk 22.10.1 (res_pjsip_refer) reports every
// transfer_progress back as a ChannelTransfer event built from the
// Replaces dialog's channel, a pointer it reads without holding a
// reference. Progress posted while that channel is being hung up makes
// Asterisk lock freed memory ("FRACK! bad magic number" in
// ast_ari_transfer_message_create, then heap corruption and a crash: about
// once in a thousand attended transfers at 100 concurrent calls). By the
// time ChannelDestroyed is published, chan_pjsip has unhooked the channel
// from its dialog, and the report names no channel. Asterisk's own
// attended transfers also hang the consultation up before the final
// NOTIFY.
const destroyWait = 2 * time.Second

// deferredProgressDue: the wait for the consultation leg's destruction ran
// out (startTellTimer).
type deferredProgressDue struct{ consultID string }

func (deferredProgressDue) inputName() string { return "deferred-progress-due" }

// onTellDue: the consultation leg was not destroyed in time; the phone is
// told anyway.
func (c *call) onTellDue(ctx context.Context, in deferredProgressDue) {
	if c.attended.telling() && c.attended.consult == in.consultID {
		c.log.Warn("consultation leg not destroyed in time; telling the transferer anyway",
			zap.String("consult", in.consultID), zap.Duration("waited", destroyWait))
	}
	c.stepAttended(ctx, tellDue{consult: in.consultID})
}
