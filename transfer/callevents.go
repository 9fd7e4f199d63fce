package transfer

import (
	"context"

	"go.uber.org/zap"
)

// What happens to a call's legs, as Asterisk reports it — a leg in
// Stasis, answered, a Dial status, hung up — routed to the machine of the
// call's state (basic call, blind transfer, attended transfer, the API's
// consultation).

// start handles the caller's arrival: the basic call's machine routes
// the dialled extension, creates the bridge and the callee's channel and
// rings the caller (basicmachine.go).
func (c *call) start(ctx context.Context, in callArrived) {
	c.caller = &leg{id: in.channelID, role: "caller", exten: in.callerExten, name: in.callerName}
	c.e.noteExten(in.callerExten, c)
	c.log = c.log.With(zap.String("caller", in.channelID), zap.String("dialled", in.dialled))
	c.log.Info("call arrived", zap.String("channel_name", in.channelName), zap.String("caller_exten", in.callerExten))
	c.stepBasic(ctx, callerArrived{caller: party{channel: in.channelID, exten: in.callerExten}, dialled: in.dialled,
		clearTimeout: in.clearTimeout, core: c.e.handlingOf(in.callerExten) == HandlingCore,
		callerPlain: c.e.cfg.plainBridgeServes(in.callerExten), dialledPlain: c.e.cfg.plainBridgeServes(in.dialled)})
}

// onLegInStasis dials a created leg now that Asterisk lets the app use it
// (the callee's setup is the basic call's: it rings in the bridge).
func (c *call) onLegInStasis(ctx context.Context, id string) {
	l := c.legByID(id)
	if l == nil || !l.awaitingStasis || !l.live() {
		return
	}
	l.awaitingStasis = false
	if l == c.callee && c.state == stateRinging {
		c.stepBasic(ctx, calleeInStasis{channel: id})
		return
	}
	if !c.dial(ctx, l) {
		c.hangup(ctx, l, "normal")
		l.gone = false // let onDialEnded apply the outcome
		c.onDialEnded(ctx, dialEnded{channelID: l.id, status: "CHANUNAVAIL"})
	}
}

// dial dials a created leg. No "caller" channel: Asterisk would cancel
// the dial when that channel hangs up, and a leg outlives the channel it
// was dialled for when an attended transfer completes while it rings.
// Caller ID and codecs came from the originator at creation.
func (c *call) dial(ctx context.Context, l *leg) bool {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.Dial(cctx, l.id, "", c.e.cfg.dialTimeout(l.exten)); err != nil {
		c.log.Warn("dial failed", zap.String("channel", l.id), zap.Error(err))
		return false
	}
	c.recordDial(ctx, l)
	return true
}

// dialledVariable marks a leg to another node as dialled. Such a leg stays
// Down until the other node rings its phone, which takes a second when
// that node's transferd is being taken over too; a successor finding it
// Down cannot otherwise tell it from a leg never dialled, and a second
// dial ends it (load harness, nodes-kill.md). For a phone here the Down
// window is milliseconds, not worth a request per dial.
const dialledVariable = "TRANSFERD_DIALLED"

// recordDial marks l dialled when it leads to another node.
func (c *call) recordDial(ctx context.Context, l *leg) {
	if _, elsewhere := c.e.cfg.routeElsewhere(l.exten); elsewhere {
		c.setVariable(ctx, l.id, dialledVariable, "1", "marking a leg to another node dialled failed (a successor could dial it again)")
	}
}

func (c *call) onAnswered(ctx context.Context, id string) {
	l := c.legByID(id)
	if l == nil || !l.live() || l.answered {
		return
	}
	l.answered = true
	switch {
	case c.state == stateRinging && l == c.callee:
		c.stepBasic(ctx, calleeAnswered{channel: l.id})
	case c.state == stateTransferRinging && l == c.target:
		c.stepBlind(ctx, targetAnswered{channel: l.id})
	case c.state == stateConsulting && l == c.target:
		c.stepConsult(ctx, targetAnswered{channel: l.id})
	}
}

func (c *call) onDialEnded(ctx context.Context, in dialEnded) {
	l := c.legByID(in.channelID)
	if l == nil || !l.created {
		// Only the channels transferd dialled end with a Dial status (a
		// phone's own channel marked gone here would never end its call).
		return
	}
	switch in.status {
	case "ANSWER":
		c.onAnswered(ctx, in.channelID)
		return
	case "", "RINGING", "PROGRESS", "CANCEL":
		return
	}
	if l.answered {
		return
	}
	l.gone = true // Asterisk hangs up a dialled channel that failed
	switch {
	case c.state == stateRinging && l == c.callee:
		c.stepBasic(ctx, calleeFailed{status: in.status})
	case c.state == stateTransferRinging && l == c.target:
		c.stepBlind(ctx, targetFailed{channel: l.id, status: in.status})
	case c.state == stateConsulting && l == c.target:
		c.stepConsult(ctx, targetFailed{channel: l.id, status: in.status})
	}
}

func (c *call) onGone(ctx context.Context, in legGone) {
	if c.attendedLegGone(ctx, in) {
		return
	}
	l := c.legByID(in.channelID)
	if l == nil || l.gone || l.handedOff {
		return
	}
	l.gone = true
	l.inBridge = false
	c.log.Info("leg hung up", zap.String("role", l.role), zap.String("channel", l.id), zap.Int("cause", in.cause))
	switch c.state {
	case stateRinging:
		c.stepBasic(ctx, legHungUp{channel: l.id, cause: in.cause, answered: l.answered})
	case stateTalking:
		c.talkingLegGone(ctx, l)
	case stateTransferRinging:
		c.stepBlind(ctx, legHungUp{channel: l.id, cause: in.cause, answered: l.answered})
	case stateConsulting:
		c.stepConsult(ctx, legHungUp{channel: l.id, cause: in.cause, answered: l.answered})
	}
}

// dialStatusFromCause maps a Q.850 hangup cause to a Dial status.
func dialStatusFromCause(cause int) string {
	switch cause {
	case 17, 21: // user busy, call rejected
		return "BUSY"
	case 34, 38, 42: // congestion
		return "CONGESTION"
	case 20, 27, 31: // subscriber absent, destination out of order
		return "CHANUNAVAIL"
	default:
		return "NOANSWER"
	}
}
