package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
)

// The requests a call makes of Asterisk for its legs, shared by the
// machines' owners: create and dial, join, hang up, hand to voicemail,
// end everything.

// holdVariable keeps a phone's hold state on its channel in Asterisk: ARI
// does not report it, and a successor adopting the call needs it (a
// transferer hanging up while holding completes a transfer).
const holdVariable = "TRANSFERD_HOLD"

func (c *call) rememberHold(ctx context.Context, l *leg) {
	value := "0"
	if l.holding {
		value = "1"
	}
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.SetVariable(cctx, l.id, holdVariable, value); err != nil && !isGone(err) {
		c.log.Warn("remember hold state failed", zap.String("channel", l.id), zap.Error(err))
	}
}

// dialLeg creates and dials a channel to dialString. An error means the
// destination cannot be reached at all (no such endpoint).
func (c *call) dialLeg(ctx context.Context, role, exten, dialString, originator string) (*leg, error) {
	l := &leg{id: c.newID(role), role: role, exten: exten, created: true}
	c.e.claim(l.id, c)
	vars := map[string]string{
		// Lets a restarted transferd find the call this leg belongs to.
		callVariable:     c.id,
		"TRANSFERD_ROLE": role,
	}
	if _, elsewhere := c.e.cfg.routeElsewhere(exten); elsewhere {
		// The channel is named after the trunk (PJSIP/node2-...), not
		// the extension: a successor adopting it reads the extension
		// here (adoptedExten).
		vars[extenVariable] = exten
	}
	// REFERs from this phone come to transferd too (see dialplan), or
	// Asterisk performs them itself, per phone.
	for k, v := range c.transferHandlingVars(exten) {
		vars[k] = v
	}
	// The ringing phone shows who calls: the party it will talk to. PJSIP
	// takes an outgoing call's From from the channel's connected line (as
	// Dial copies it from the caller); ",i" sets it without an update.
	if from := c.legByID(originator); from != nil && from.exten != "" {
		vars["CONNECTEDLINE(num,i)"] = from.exten
		if from.name != "" {
			vars["CONNECTEDLINE(name,i)"] = from.name
		}
	}
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	err := c.e.ast.CreateChannel(cctx, ChannelSpec{
		ID:         l.id,
		Endpoint:   dialString,
		Originator: originator,
		Variables:  vars,
	})
	if err != nil {
		c.e.release(l.id)
		return nil, fmt.Errorf("create channel %s: %w", dialString, err)
	}
	l.awaitingStasis = true
	c.e.noteExten(exten, c)
	return l, nil
}

// join adds a leg to the call's bridge.
func (c *call) join(ctx context.Context, l *leg) bool {
	if err := c.addToBridge(ctx, c.bridge, l); err != nil {
		c.log.Warn("add to bridge failed", zap.String("channel", l.id), zap.Error(err))
		return false
	}
	l.inBridge = true
	return true
}

// addToBridge adds a leg to a bridge (moving it out of any other).
func (c *call) addToBridge(ctx context.Context, bridge string, l *leg) error {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	return c.e.ast.AddToBridge(cctx, bridge, l.id)
}

// fail ends the call, hanging the caller up with an ARI hangup reason so
// the phone shows why: "busy" → 486 Busy Here, "unallocated" → 404 Not
// Found, "congestion" → 503.
func (c *call) fail(ctx context.Context, reason string) {
	if c.caller.live() {
		c.hangup(ctx, c.caller, reason)
	}
	c.end(ctx)
}

// toVoicemail sends a leg to exten's voicemail through the dialplan.
func (c *call) toVoicemail(ctx context.Context, l *leg, exten string) {
	if l.inBridge {
		cctx, cancel := c.cmdCtx(ctx)
		c.e.ast.RemoveFromBridge(cctx, c.bridge, l.id) // gone is fine
		cancel()
		l.inBridge = false
	}
	cctx, cancel := c.cmdCtx(ctx)
	err := c.e.ast.Continue(cctx, l.id, c.e.cfg.VoicemailContext, exten)
	cancel()
	if err != nil {
		c.log.Error("send to voicemail failed", zap.String("mailbox", exten), zap.Error(err))
		c.fail(ctx, "normal")
		return
	}
	l.handedOff = true
	c.log.Info("sent to voicemail", zap.String("channel", l.id), zap.String("mailbox", exten))
	c.end(ctx)
}

func (c *call) hangup(ctx context.Context, l *leg, reason string) {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.Hangup(cctx, l.id, reason); err != nil && !isGone(err) {
		c.log.Warn("hangup failed; owed until Asterisk is reached again", zap.String("channel", l.id), zap.Error(err))
		c.e.oweHangup(l.id)
	}
	l.gone = true
	l.inBridge = false
}

// end removes everything transferd holds for the call: live legs are hung
// up (ringing ones stop ringing), the bridge is destroyed. Legs handed off
// to the dialplan are left alone.
func (c *call) end(ctx context.Context) {
	c.stepEntry(ctx, callEnded{})
	c.stepBasic(ctx, callEnded{})
	c.stepConsult(ctx, callEnded{})
	// (Set first: what the attended transfer does after its phone is
	// told must not treat the call as going on.)
	c.state = stateEnded
	c.stepAttended(ctx, callEnded{})
	if c.xfer != nil {
		c.transferEnded(c.xfer.ev.Kind, Request{}, OutcomeCancelled, "the call ended during the transfer")
	}
	if c.caller.live() {
		c.stepBlind(ctx, callEnded{})
	}
	for _, l := range []*leg{c.callee, c.target, c.caller} {
		if l.live() {
			c.hangup(ctx, l, "normal")
		}
	}
	c.hangupReplaced(ctx)
	if c.bridge != "" {
		cctx, cancel := c.cmdCtx(ctx)
		if err := c.e.ast.DestroyBridge(cctx, c.bridge); err != nil && !isGone(err) {
			c.log.Warn("destroy bridge failed", zap.String("bridge", c.bridge), zap.Error(err))
		}
		cancel()
	}
	c.state = stateEnded
	c.log.Info("call ended")
}

// isGone reports whether err says the resource no longer exists.
func isGone(err error) bool {
	return errors.Is(err, ari.ErrNotFound)
}

// extenFromChannelName returns the endpoint part of a channel name:
// "PJSIP/101-00000003" → "101".
func extenFromChannelName(name string) string {
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndexByte(name, '-'); i >= 0 {
		name = name[:i]
	}
	return name
}

// execSharedOf executes the commands several machines give in the same
// words (leg requests, phone reports, the end of the call), and logs any
// other as a command machine does not have. A join's result comes back.
func (c *call) execSharedOf(ctx context.Context, machine string, cmd fmt.Stringer) *joined {
	j, handled := c.execShared(ctx, cmd)
	if !handled {
		c.log.Error(machine+": unknown command", zap.Stringer("command", cmd))
	}
	return j
}

// execShared is execSharedOf's switch; handled is false for a command no
// machine shares.
func (c *call) execShared(ctx context.Context, cmd fmt.Stringer) (j *joined, handled bool) {
	switch cmd := cmd.(type) {
	case hangupLeg:
		c.hangup(ctx, c.legNamed(cmd.channel), "normal")
	case leaveBridge:
		c.leaveBridge(ctx, cmd.bridge, c.legNamed(cmd.channel))
	case destroyBridge:
		c.destroyBridge(ctx, cmd.bridge)
	case joinBridge:
		return &joined{channel: cmd.channel, ok: c.join(ctx, c.legNamed(cmd.channel))}, true
	case stopMusic:
		c.stopMusic(ctx, c.legNamed(cmd.channel))
	case stopHoldMusic:
		c.stopHoldMusic(ctx, c.legNamed(cmd.holder), c.legNamed(cmd.held))
	case showConnected:
		c.showConnected(ctx, c.legNamed(cmd.viewer), c.legNamed(cmd.party))
	case reportProgress:
		c.progress(ctx, cmd.channel, cmd.state)
	case letPhoneHangUp:
		c.letPhoneHangUp(ctx, c.legNamed(cmd.channel))
	case sendToVoicemail:
		c.toVoicemail(ctx, c.legNamed(cmd.channel), cmd.mailbox)
	case talkTo:
		c.talkTo(cmd)
	case returnTo:
		c.returnTo(cmd)
	case endCall:
		c.end(ctx)
	default:
		return nil, false
	}
	return nil, true
}
