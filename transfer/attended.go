package transfer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
)

// An attended (two-step) transfer involves two calls, each with its own
// owner: the call whose other party the transferer put on hold, and the
// consultation call the transferer then placed (or received). When the
// transferer completes (REFER with Replaces, or hanging up when configured
// so), the call that received the REFER asks the other one to hand itself
// over. The other call, if it agrees, merges into the first: every id it
// owned now routes to the first call's owner, followed by the inputs it
// had not processed, in order (Engine.merge). The first call then finishes
// the transfer with both calls' legs in hand. Owners never wait for each
// other: a request and its answer are inputs like any other.
//
// In the words of the code: the receiver's "transferer" is the leg of the
// phone that pressed Tran, its "transferee" the party it talks to (held);
// the consultation brings the transferer's second leg ("consult") and the
// colleague ("party").

// attendedTransfer is a completion waiting for the consultation call.
type attendedTransfer struct {
	transfererID string
	// hungUp: the transferer hung up during the consultation (no REFER to
	// answer).
	hungUp bool
	// recall: end the consultation and ring the transferer back instead
	// of completing.
	recall bool
	// exten of the transferer, for a recall.
	exten string
}

// handOverRequest asks a consultation call to merge into from.
type handOverRequest struct {
	from *call
	// consultID is the transferer's consultation channel named by the
	// REFER's Replaces; "" when the transferer hung up and the
	// consultation is found by extension.
	consultID       string
	transfererExten string
	request         Request // for the transfer policy; Destination filled in by the consultation
	// end: the consultation is to be ended, not handed over (recall).
	end bool
}

// handOverRefused answers a handOverRequest that cannot be granted.
type handOverRefused struct {
	reason string
	// unavailable: the consultation is gone (NOTIFY 503) rather than
	// refused (603).
	unavailable bool
}

// absorbed carries a consultation call merged into the receiver.
type absorbed struct {
	callID  string
	bridge  string
	state   callState
	consult *leg // the transferer's consultation leg
	party   *leg // the colleague
	ids     []string
	extens  []string
}

func (handOverRequest) inputName() string { return "hand-over-request" }
func (handOverRefused) inputName() string { return "hand-over-refused" }
func (absorbed) inputName() string        { return "absorbed" }

// onAttendedTransfer handles a REFER with Replaces received on one of this
// call's legs.
func (c *call) onAttendedTransfer(ctx context.Context, in transferRequested, transferer *leg) {
	log := c.log.With(zap.String("transfer", string(KindAttended)), zap.String("transferer", transferer.id),
		zap.String("replaces", in.replaces), zap.String("consult", in.consultID))
	if c.attended != nil {
		log.Info("attended transfer refused: another transfer of this call is under way")
		c.progress(ctx, transferer.id, progressDeclined)
		return
	}
	if in.consultID == "" {
		// Asterisk found no dialog for the Replaces: not a call on this
		// PBX (or one that has ended).
		log.Info("attended transfer refused: Replaces names no call Asterisk knows")
		c.transferEnded(KindAttended, c.attendedRequest(transferer), OutcomeRefused, "Replaces names no call Asterisk knows")
		c.progress(ctx, transferer.id, progressUnavailable)
		return
	}
	other := c.e.ownerOf(in.consultID)
	if other == nil || other == c {
		log.Info("attended transfer refused: Replaces names a call transferd does not handle")
		c.transferEnded(KindAttended, c.attendedRequest(transferer), OutcomeRefused, "Replaces names a call transferd does not handle")
		c.progress(ctx, transferer.id, progressUnavailable)
		return
	}
	c.requestHandOver(other, transferer, in.consultID, false)
	log.Info("attended transfer requested; waiting for the consultation call")
}

// requestHandOver asks other to merge into this call (or, with end, to
// end) and records the transfer as waiting.
func (c *call) requestHandOver(other *call, transferer *leg, consultID string, end bool) {
	c.attended = &attendedTransfer{transfererID: transferer.id, exten: transferer.exten, hungUp: transferer.gone, recall: end}
	req := c.attendedRequest(transferer)
	c.transferStarted(KindAttended, req)
	if !other.box.put(handOverRequest{
		from:            c,
		consultID:       consultID,
		transfererExten: transferer.exten,
		request:         req,
		end:             end,
	}) {
		// The consultation call's owner had already retired (its
		// colleague hung up as the REFER came): nobody would answer,
		// and the transfer would wait forever (seen in CI on 22.10.1:
		// no final NOTIFY). It is refused like one to an ended call.
		c.box.put(handOverRefused{reason: "the consultation call has ended", unavailable: true})
	}
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

// onHandOverRequest runs in the consultation call: it checks the request
// and merges this call into the requester.
func (c *call) onHandOverRequest(ctx context.Context, r handOverRequest) {
	var consult *leg
	if r.consultID != "" {
		consult = c.legByID(r.consultID)
	} else {
		for _, l := range []*leg{c.caller, c.callee} {
			if l != nil && l.live() && l.exten == r.transfererExten {
				consult = l
			}
		}
	}
	switch {
	case c.state != stateRinging && c.state != stateTalking:
		c.refuseHandOver(r, fmt.Sprintf("the consultation call is %s", c.state))
		return
	case consult == nil || (consult != c.caller && consult != c.callee):
		c.refuseHandOver(r, "the replaced channel is not a party of the consultation call")
		return
	case !consult.live():
		c.refuseHandOver(r, "the transferer's consultation leg has hung up")
		return
	case consult.exten != r.transfererExten:
		// A REFER may only replace a call of the transferer's own phone.
		c.refuseHandOver(r, fmt.Sprintf("the replaced call belongs to %q, not to the transferer %q", consult.exten, r.transfererExten))
		return
	}
	party := c.otherParty(consult)
	if !party.live() {
		c.refuseHandOver(r, "the colleague has left the consultation call")
		return
	}
	if r.end {
		c.log.Info("consultation ended by the transferer hanging up (recall)")
		c.end(ctx)
		return
	}
	req := r.request
	req.Destination = party.exten
	if err := c.e.policy.AllowTransfer(ctx, req); err != nil {
		c.refuseHandOver(r, "transfer policy: "+err.Error())
		return
	}
	// (An outcome still owed to an earlier transfer's phone is told now:
	// this call's inputs go elsewhere from here.)
	c.flushDeferredProgress(ctx)
	c.hangUpDeparting(ctx)
	a := absorbed{callID: c.id, bridge: c.bridge, state: c.state, consult: consult, party: party, ids: c.ids, extens: c.extens}
	if !c.e.merge(c, r.from, a, c.rest) {
		// The requesting call ended meanwhile: the consultation goes on.
		c.log.Info("hand-over abandoned: the held call has ended")
		return
	}
	c.log.Info("consultation handed over", zap.String("to_call", r.from.id), zap.String("colleague", party.id))
	c.merged = true
	c.state = stateEnded
}

func (c *call) refuseHandOver(r handOverRequest, reason string) {
	c.log.Info("hand-over refused", zap.String("to_call", r.from.id), zap.String("reason", reason))
	r.from.box.put(handOverRefused{reason: reason, unavailable: c.state == stateEnded})
}

// onHandOverRefused: the consultation cannot be handed over; the
// transferer's phone is told and keeps both calls.
func (c *call) onHandOverRefused(ctx context.Context, r handOverRefused) {
	a := c.attended
	if a == nil {
		return
	}
	c.attended = nil
	c.log.Info("attended transfer failed", zap.String("transfer", string(KindAttended)), zap.String("reason", r.reason))
	if c.xfer != nil {
		c.transferEnded(KindAttended, Request{}, OutcomeRefused, r.reason)
	}
	transferer := c.legByID(a.transfererID)
	if transferer != nil && transferer.local && transferer.live() {
		// Asterisk linked the calls itself and told the phone it worked.
		c.unlink(ctx, transferer)
		return
	}
	if a.hungUp || transferer == nil {
		// Nobody to tell; the transferer is gone, so is the call.
		c.end(ctx)
		return
	}
	state := progressDeclined
	if r.unavailable {
		state = progressUnavailable
	}
	c.progress(ctx, transferer.id, state)
}

// onAbsorbed completes the transfer with the consultation's legs in hand.
func (c *call) onAbsorbed(ctx context.Context, a absorbed) {
	c.ids = append(c.ids, a.ids...)
	c.extens = append(c.extens, a.extens...)
	at := c.attended
	c.attended = nil
	var transferer, transferee *leg
	if at != nil {
		transferer = c.legByID(at.transfererID)
		if transferer != nil {
			transferee = c.otherParty(transferer)
		}
	}
	if at == nil || transferee == nil || !transferee.live() || c.hangupPending(transferee) || c.state != stateTalking {
		c.log.Info("consultation merged into a call that can no longer complete the transfer")
		if transferer != nil && transferer.live() {
			c.progress(ctx, transferer.id, progressDeclined)
		}
		c.end(ctx)
		c.adopt(ctx, a)
		return
	}
	log := c.log.With(zap.String("transfer", string(KindAttended)), zap.String("transferee", transferee.id),
		zap.String("colleague", a.party.id), zap.String("consult_call", a.callID))
	if a.state == stateTalking {
		c.completeAttended(ctx, at, transferer, transferee, a, log)
		return
	}

	// Completed while the colleague still rings: the transferee hears
	// ringback, and the blind-transfer rules apply from here. The
	// transferer's first leg leaves the held call; the consultation
	// bridge goes.
	c.leaveBridge(ctx, c.bridge, transferer)
	c.stopHoldMusic(ctx, transferer, transferee)
	if a.party.inBridge {
		c.leaveBridge(ctx, a.bridge, a.party)
	}
	c.leaveBridge(ctx, a.bridge, a.consult)
	c.destroyBridge(ctx, a.bridge)
	c.caller, c.callee, c.target = transferee, transferer, a.party
	a.party.role = "target"
	c.blindRings(ctx, a.party, a.party.exten, transferer.exten, false)
	c.state = stateTransferRinging
	log.Info("attended transfer completed while the colleague rings")
	if c.xfer != nil {
		c.xfer.ev.Destination = a.party.exten
		c.transferRinging()
	}
	if a.consult.live() && !a.consult.created {
		// The transferer's consultation call never connected. Hung up
		// as it is, chan_pjsip would end it with 603 Decline (its answer
		// for any cause it has no SIP code for; none of ARI's hangup
		// reasons gives 487), and the phone shows "Call declined" for a
		// transfer that worked. Answered first, it ends with a BYE like
		// any completed transfer's call.
		cctx, cancel := c.cmdCtx(ctx)
		if err := c.e.ast.Answer(cctx, a.consult.id); err != nil && !isGone(err) {
			log.Warn("answer consultation leg before hanging it up failed", zap.String("consult", a.consult.id), zap.Error(err))
		}
		cancel()
	}
	c.releaseTransferer(ctx, at, transferer, a.consult, false, nil)
}

// completeAttended connects the transferee with the colleague who answered
// the consultation.
//
// The transferer's phone waits for its NOTIFY from the REFER on, so only
// what the outcome depends on comes first: the consultation leg is hung
// up (Asterisk takes it out of its bridge and starts destroying it, which
// the NOTIFY must wait for: tellWhenDestroyed), the transferer's first leg
// leaves the held call's bridge and the colleague moves into it (ARI takes
// a channel out of its Stasis bridge when it is added to another); the
// three requests go out at once. What the phones do not wait for
// (stopping the hold music, destroying the emptied consultation bridge,
// the displays) comes after the NOTIFY.
func (c *call) completeAttended(ctx context.Context, at *attendedTransfer, transferer, transferee *leg, a absorbed, log *zap.Logger) {
	consultLive := a.consult.live()
	// The phone's NOTIFY waits for these three requests. Each concerns
	// its own channel and leg, so they go out together: one round trip
	// instead of three.
	var joined bool
	together(
		func() {
			if consultLive {
				c.hangup(ctx, a.consult, "normal")
			}
		},
		func() { c.leaveBridge(ctx, c.bridge, transferer) },
		func() { joined = c.join(ctx, a.party) },
	)
	c.caller, c.callee, c.target = transferee, a.party, nil
	a.party.role = "callee"
	after := func(ctx context.Context) {
		c.stopHoldMusic(ctx, transferer, transferee)
		c.destroyBridge(ctx, a.bridge)
		if c.state == stateTalking {
			// (Also after Asterisk's own transfer: it updated the
			// colleague's display but never the caller's.)
			c.showEachOther(ctx, transferee, a.party)
		}
	}
	if !joined {
		c.colleagueLeftAtCompletion(ctx, at, transferer, transferee, a, consultLive, log)
		return
	}
	c.state = stateTalking
	log.Info("attended transfer completed")
	if c.xfer != nil {
		c.xfer.ev.Destination = a.party.exten
		c.transferEnded(KindAttended, Request{}, OutcomeCompleted, "")
	}
	c.releaseTransferer(ctx, at, transferer, a.consult, consultLive, after)
}

// colleagueLeftAtCompletion: the colleague hung up in the instant the
// transferer completed (its REFER crossed the colleague's BYE), so the
// colleague could not join the caller. The transfer failed, and the
// caller must not be dropped for it: the transferer's leg goes back to
// the caller, who hears music on hold again (the phone still holds), and
// the phone is told 503, as for a colleague who left before the REFER:
// its user resumes the caller.
func (c *call) colleagueLeftAtCompletion(ctx context.Context, at *attendedTransfer, transferer, transferee *leg, a absorbed, consultLive bool, log *zap.Logger) {
	log.Info("attended transfer failed: the colleague left as it completed; the caller goes back to the transferer")
	c.caller, c.callee, c.target = transferee, transferer, nil
	if a.party.live() {
		c.hangup(ctx, a.party, "normal")
	}
	c.destroyBridge(ctx, a.bridge)
	if c.xfer != nil {
		c.transferEnded(KindAttended, Request{}, OutcomeFailed, "the colleague hung up as the transfer completed")
	}
	if at.hungUp || !transferer.live() || !c.join(ctx, transferer) {
		// Nobody is left to take the caller back.
		c.end(ctx)
		return
	}
	c.state = stateTalking
	if transferer.holding {
		// Asterisk stopped the hold music when the transferer's leg left
		// the bridge, and does not restart it when the leg comes back
		// (its phone still holds): transferd plays it until the phone
		// resumes (holdChanged).
		c.musicUntilResumed(ctx, transferee)
	}
	if consultLive {
		// The consultation leg is being destroyed: tellWhenDestroyed.
		c.tellWhenDestroyed(transferer, a.consult.id, progressUnavailable, false, nil)
		return
	}
	c.progress(ctx, transferer.id, progressUnavailable)
}

// releaseTransferer tells the transferer's phone that its attended
// transfer worked and hangs up its leg(s) for it, as after Asterisk's own
// transfers: the consultation leg first (consultHungUp: it has just been).
// after, when not nil, runs once the phone has been told.
func (c *call) releaseTransferer(ctx context.Context, at *attendedTransfer, transferer, consult *leg, consultHungUp bool, after func(context.Context)) {
	if consult.live() {
		c.hangup(ctx, consult, "normal")
		consultHungUp = true
	}
	switch {
	case at.hungUp || transferer.local:
		// Nobody to tell, or (core handling) Asterisk told the phone.
		if transferer.live() {
			c.hangup(ctx, transferer, "normal")
		}
	case consultHungUp:
		// The REFER's Replaces named the consultation leg: see
		// tellWhenDestroyed.
		c.tellWhenDestroyed(transferer, consult.id, progressAnswered, true, after)
		after = nil
	default:
		c.progress(ctx, transferer.id, progressAnswered)
		c.letPhoneHangUp(ctx, transferer)
	}
	if transferer.local {
		// Core handling: Asterisk has told the phone and hung up the
		// consultation leg; the leg that received the REFER is left.
		c.hangupReplaced(ctx)
	}
	if after != nil {
		after(ctx)
	}
}

// deferredProgress is an attended transfer's outcome held back until
// Asterisk has destroyed the consultation leg (tellWhenDestroyed).
type deferredProgress struct {
	transferer *leg
	consultID  string
	state      string
	// hangUp: hang the transferer's leg up once told (a completed
	// transfer); a failed one leaves it with the caller.
	hangUp bool
	timer  *time.Timer
	// after runs once the phone has been told (or could not be: it ran
	// out of time, or its leg is gone).
	after func(context.Context)
}

// deferredProgressDue: the wait for the consultation leg's destruction ran
// out.
type deferredProgressDue struct{ consultID string }

func (deferredProgressDue) inputName() string { return "deferred-progress-due" }

// destroyWait bounds how long an attended transfer's final NOTIFY waits
// for Asterisk to destroy the consultation leg; it takes milliseconds.
const destroyWait = 2 * time.Second

// tellWhenDestroyed tells the transferer's phone an attended transfer's
// outcome once Asterisk has destroyed the consultation leg its REFER's
// Replaces named, then (with hangUp) hangs the transferer's leg up.
//
// Why wait: with ari-only handling, Asterisk 22.10.1 (res_pjsip_refer)
// reports every transfer_progress back as a ChannelTransfer event built
// from the Replaces dialog's channel, a pointer it reads without holding a
// reference. Progress posted while that channel is being hung up makes
// Asterisk lock freed memory ("FRACK! bad magic number" in
// ast_ari_transfer_message_create, then heap corruption and a crash: about
// once in a thousand attended transfers at 100 concurrent calls). By the
// time ChannelDestroyed is published, chan_pjsip has unhooked the channel
// from its dialog, and the report names no channel. Asterisk's own
// attended transfers also hang the consultation up before the final
// NOTIFY.
func (c *call) tellWhenDestroyed(transferer *leg, consultID, state string, hangUp bool, after func(context.Context)) {
	box := c.box
	c.setDeferred(&deferredProgress{transferer: transferer, consultID: consultID, state: state, hangUp: hangUp, after: after,
		timer: time.AfterFunc(destroyWait, func() { box.put(deferredProgressDue{consultID: consultID}) })})
}

// setDeferred records (or, with nil, drops) the call's deferred outcome.
// The engine counts the calls holding one back: a replica handing its
// connection over waits for them (Engine.Quiet), since a successor would
// not know the phone is owed its NOTIFY.
func (c *call) setDeferred(d *deferredProgress) {
	switch {
	case c.deferred == nil && d != nil:
		c.e.deferring.Add(1)
	case c.deferred != nil && d == nil:
		c.e.deferring.Add(-1)
	}
	c.deferred = d
}

// onDestroyedForProgress releases a deferred outcome when its consultation
// leg is destroyed, or when the wait for that runs out.
func (c *call) onDestroyedForProgress(ctx context.Context, consultID string, timedOut bool) {
	if d := c.deferred; d == nil || d.consultID != consultID {
		return
	}
	if timedOut {
		c.log.Warn("consultation leg not destroyed in time; telling the transferer anyway",
			zap.String("consult", consultID), zap.Duration("waited", destroyWait))
	}
	c.flushDeferredProgress(ctx)
}

// flushDeferredProgress tells the transferer's phone now.
func (c *call) flushDeferredProgress(ctx context.Context) {
	d := c.deferred
	if d == nil {
		return
	}
	c.setDeferred(nil)
	d.timer.Stop()
	if d.transferer.live() {
		c.progress(ctx, d.transferer.id, d.state)
		if d.hangUp {
			c.letPhoneHangUp(ctx, d.transferer)
		}
	}
	if d.after != nil {
		d.after(ctx)
	}
}

// hangupPending reports whether l's hangup is already queued behind the
// input being handled: a transfer must not complete to a party that is
// gone.
func (c *call) hangupPending(l *leg) bool {
	gone := func(in input) bool {
		g, ok := in.(legGone)
		return ok && g.channelID == l.id
	}
	return slices.ContainsFunc(c.rest, gone) || c.box.has(gone)
}

// adopt makes this call carry on as the consultation call a: what happens
// when the call the consultation merged into could not complete.
func (c *call) adopt(ctx context.Context, a absorbed) {
	c.log.Info("carrying on the consultation call", zap.String("consult_call", a.callID))
	c.ids = append(c.ids, a.ids...)
	c.extens = append(c.extens, a.extens...)
	c.bridge = a.bridge
	c.caller, c.callee, c.target, c.blind, c.attended = a.consult, a.party, nil, newBlindMachine(c.blind.recallOnNoAnswer), nil
	c.state = a.state
	if a.consult.gone || !a.party.live() {
		c.end(ctx)
	}
}

// talkingLegGone: a leg of a bridged call hung up. A transferer who hangs
// up with the other party on hold while consulting someone completes the
// transfer (or, configured so, ends the consultation and is rung back):
// the held party is never abandoned.
func (c *call) talkingLegGone(ctx context.Context, l *leg) {
	if c.stepEntry(ctx, partyHungUp{channel: l.id}) {
		return // the user finished keying *8 and a number
	}
	if c.attended != nil && c.attended.transfererID == l.id {
		// Phones often hang up right after a REFER: the completion
		// under way carries on without it.
		c.attended.hungUp = true
		return
	}
	held := c.otherParty(l)
	if !l.holding || !held.live() || c.attended != nil {
		c.end(ctx)
		return
	}
	consultations := c.e.callsOf(l.exten, c)
	if len(consultations) == 0 {
		c.end(ctx)
		return
	}
	recall := c.e.cfg.TransfererHangup == TransfererHangupRecall
	c.log.Info("transferer hung up during a consultation", zap.String("transferer", l.id),
		zap.String("consult_call", consultations[0].id), zap.Bool("recall", recall))
	c.requestHandOver(consultations[0], l, "", recall)
	if recall {
		c.attended = nil
		c.xfer.ev.Kind = KindAttended
		c.caller, c.callee = held, l
		if err := c.recall(ctx, l.exten); err != nil {
			c.log.Info("recall failed; sending the held party to the transferer's voicemail", zap.Error(err))
			c.toVoicemail(ctx, held, l.exten)
			return
		}
		c.state = stateTransferRinging
	}
}

// leaveBridge takes a leg out of a bridge; a leg or bridge already gone is
// not an error.
func (c *call) leaveBridge(ctx context.Context, bridge string, l *leg) {
	if l == nil || bridge == "" {
		return
	}
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.RemoveFromBridge(cctx, bridge, l.id); err != nil && !isGone(err) && !errors.Is(err, ari.ErrUnprocessable) {
		c.log.Warn("remove from bridge failed", zap.String("bridge", bridge), zap.String("channel", l.id), zap.Error(err))
	}
	l.inBridge = false
}

func (c *call) destroyBridge(ctx context.Context, bridge string) {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.DestroyBridge(cctx, bridge); err != nil && !isGone(err) {
		c.log.Warn("destroy bridge failed", zap.String("bridge", bridge), zap.Error(err))
	}
}

// showEachOther updates both phones' displays (connected line) after a
// transfer joined them.
func (c *call) showEachOther(ctx context.Context, a, b *leg) {
	c.showConnected(ctx, a, b)
	c.showConnected(ctx, b, a)
}

// showConnected updates viewer's phone display to show party.
func (c *call) showConnected(ctx context.Context, viewer, party *leg) {
	if party.exten == "" {
		return // (nothing better to show than what it shows)
	}
	cctx, cancel := c.cmdCtx(ctx)
	err := c.e.ast.SetConnectedLine(cctx, viewer.id, party.name, party.exten)
	cancel()
	if err != nil && !isGone(err) {
		c.log.Warn("connected line update failed", zap.String("channel", viewer.id), zap.Error(err))
	}
}

// together runs steps at once, the first in the calling goroutine, and
// returns when all have. For a call's requests that concern different legs
// and channels, which a phone waits for: each step may touch only its own
// leg, so each leg has one writer, and the owner goroutine reads them only
// once all steps have returned.
func together(steps ...func()) {
	var wg sync.WaitGroup
	for _, step := range steps[1:] {
		wg.Go(step)
	}
	steps[0]()
	wg.Wait()
}
