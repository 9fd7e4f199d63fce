package transfer

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// A phone whose transfer worked ends its own call: after the final NOTIFY
// (RFC 5589) it sends BYE on the dialog that carried the REFER, a few
// milliseconds later (linphonec 5.1, baresip 1.0, desk phones). Hanging
// that leg up at the same moment made Asterisk send a BYE of its own on
// the same dialog: BYE glare on every transfer, and phones that log or
// show the crossed requests. So the leg only leaves the call (out of the
// bridge, no longer a party) and transferd waits byeWait for the phone's
// BYE; a phone that never sends one is hung up then. Asterisk's own
// transfers (core handling) hang the leg up at once; that stays theirs.

// byeWait bounds the wait for a transferer's phone to hang up by itself.
// Phones send their BYE within milliseconds of the NOTIFY; a phone still
// on the line after two seconds is not going to.
const byeWait = 2 * time.Second

// departedCall marks a departing leg in Asterisk (its TRANSFERD_CALL): a
// successor adopting the call must not take it for a party.
const departedCall = "departed"

// departureDue: the wait for a departing phone's BYE ran out.
type departureDue struct{ channelID string }

func (departureDue) inputName() string { return "departure-due" }

// letPhoneHangUp takes a transferer's leg out of the call and leaves its
// phone byeWait to end the dialog itself (see above). Legs of Asterisk's
// own (Local) channels are hung up at once.
func (c *call) letPhoneHangUp(ctx context.Context, l *leg) {
	if !l.live() {
		return
	}
	if l.local {
		c.hangup(ctx, l, "normal")
		return
	}
	if l.inBridge {
		c.leaveBridge(ctx, c.bridge, l)
	}
	cctx, cancel := c.cmdCtx(ctx)
	if err := c.e.ast.SetVariable(cctx, l.id, callVariable, departedCall); err != nil && !isGone(err) {
		c.log.Warn("mark departing leg failed", zap.String("channel", l.id), zap.Error(err))
	}
	cancel()
	l.gone = true
	if c.departing == nil {
		c.departing = make(map[string]*time.Timer)
	}
	id, box := l.id, c.box
	c.departing[id] = time.AfterFunc(byeWait, func() { box.put(departureDue{channelID: id}) })
}

// onDeparture notes the inputs about departing legs, in any state of the
// call (it may have ended meanwhile). It reports whether in needs no
// other handling.
func (c *call) onDeparture(ctx context.Context, in input) bool {
	switch in := in.(type) {
	case legGone:
		// Bookkeeping only: the leg is no longer a party, so the usual
		// handling of the input finds nothing to do.
		if t, ok := c.departing[in.channelID]; ok {
			t.Stop()
			delete(c.departing, in.channelID)
			c.log.Debug("transferer's phone hung up by itself", zap.String("channel", in.channelID))
		}
		return false
	case departureDue:
		if _, ok := c.departing[in.channelID]; !ok {
			return true // its phone hung up meanwhile
		}
		delete(c.departing, in.channelID)
		c.log.Info("transferer's phone did not hang up; hanging its leg up",
			zap.String("channel", in.channelID), zap.Duration("waited", byeWait))
		c.hangup(ctx, &leg{id: in.channelID}, "normal")
		return true
	}
	return false
}

// hangUpDeparting hangs up every departing leg now: the call's inputs are
// about to go elsewhere (a merge), so no BYE or timer would reach it.
func (c *call) hangUpDeparting(ctx context.Context) {
	for id, t := range c.departing {
		t.Stop()
		c.hangup(ctx, &leg{id: id}, "normal")
	}
	c.departing = nil
}
