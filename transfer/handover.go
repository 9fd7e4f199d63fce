package transfer

import (
	"context"
	"errors"
	"slices"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
)

// Merging two calls for an attended transfer, the consultation call's
// side: the call that received the REFER (its attended transfer's machine,
// attendedmachine.go) asks the consultation call to hand itself over
// (handOverRequest, through its mailbox). The consultation call checks
// the request and answers handOverRefused, or merges into the requester:
// every id it owned now routes to the requester's owner, followed by the
// inputs it had not processed, in order (Engine.merge), its legs carried
// in the absorbed input. Owners never wait for each other, and neither
// writes the other's fields: a request and its answer are inputs like any
// other.
//
// In the words of the code: the receiver's "transferer" is the leg of the
// phone that pressed Tran, its "transferee" the party it talks to (held);
// the consultation brings the transferer's second leg ("consult") and the
// colleague ("party").

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
	basic   basicMachine // its setup, while the colleague rings
	consult *leg         // the transferer's consultation leg
	party   *leg         // the colleague
	ids     []string
	extens  []string
}

func (handOverRequest) inputName() string { return "hand-over-request" }
func (handOverRefused) inputName() string { return "hand-over-refused" }
func (absorbed) inputName() string        { return "absorbed" }

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
	ask := handOverAsk{state: c.state, transfererExten: r.transfererExten, end: r.end}
	var party *leg
	switch {
	case consult == nil:
	case consult != c.caller && consult != c.callee:
		ask.replaced = "other"
	default:
		party = c.otherParty(consult)
		ask.replaced, ask.consultLive, ask.consultExten, ask.colleagueLive = "party", consult.live(), consult.exten, party.live()
		ask.consultUnanswered = c.state == stateRinging && consult == c.callee
	}
	switch verdict, reason := decideHandOver(ask); verdict {
	case handOverRefuse:
		c.refuseHandOver(r, reason)
		return
	case handOverEnd:
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
	// (A voicemail entry being keyed gives way: the colleague it held
	// comes back. An outcome still owed to an earlier transfer's phone is
	// told now: this call's inputs go elsewhere from here.)
	c.stepEntry(ctx, transferTakesOver{})
	c.stepAttended(ctx, tellNow{})
	c.hangUpDeparting(ctx)
	a := absorbed{callID: c.id, bridge: c.bridge, state: c.state, basic: c.basic, consult: consult, party: party, ids: c.ids, extens: c.extens}
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
	c.caller, c.callee, c.target, c.blind, c.attended = a.consult, a.party, nil, newBlindMachine(c.blind.policy), attendedMachine{}
	c.state, c.basic = a.state, a.basic
	if a.consult.gone || !a.party.live() {
		c.end(ctx)
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
