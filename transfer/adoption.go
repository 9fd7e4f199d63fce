package transfer

import (
	"context"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// An adopted call rebuilding its state, on its owner goroutine, from what
// Adopt (adopt.go) found of it in Asterisk: which legs it has, what they
// were doing, and how to carry on (or end) what the previous transferd
// left half done.

// createdHere reports whether transferd created the channel for this call.
func (c *call) createdHere(channelID string) bool {
	return strings.HasPrefix(channelID, c.e.cfg.App+"-"+c.id+"-")
}

// extenVariable holds the extension of a leg transferd dialled on
// another node: its channel is named after the trunk.
const extenVariable = "TRANSFERD_EXTEN"

// adoptedExten is the extension of an adopted channel's phone: the
// endpoint transferd dialled (or, across a trunk, the extension it
// recorded on the leg), or the caller's number.
func (c *call) adoptedExten(ch SnapshotChannel) string {
	if !c.createdHere(ch.ID) {
		return ch.CallerNumber
	}
	if ch.RecordedExten != "" {
		return ch.RecordedExten
	}
	return extenFromChannelName(ch.Name)
}

// adoption is a call's state as found in Asterisk.
type adoption struct {
	bridge          string
	members, others []SnapshotChannel
}

func (adoption) inputName() string { return "adoption" }

// onAdoption rebuilds the call from what Asterisk holds:
//   - two parties in the bridge: they talk;
//   - one party and a leg transferd dialled ringing: a blind transfer (or
//     the recall) rings; answered: it joins;
//   - a callee in the bridge, answered, and its caller outside, not yet
//     answered: the answer came while nobody listened; they are connected;
//   - one party and the other held out of the bridge (a *8 being keyed):
//     the user keeps keying the mailbox number (recorded on the held
//     party); with no entry recorded, they talk again;
//   - only the party held for a *8 (its user hung up meanwhile): it goes
//     to the mailbox keyed;
//   - no party in the bridge and the callee ringing: the call rings (a
//     leg created but never dialled is dialled);
//   - an unanswered caller and no callee leg yet: the call was being set
//     up; it is set up again;
//   - two parties talking and a phone's leg beside them: a transferer
//     owed its final NOTIFY; it is told;
//   - a party of a talking call whose REFER was recorded and not settled
//     (referVariable): the REFER is carried out again;
//   - the other parties of a call that goes on talking are probed for a
//     REFER the predecessor read and never recorded (referprobe.go);
//   - anything else: what is left of the call ends.
func (c *call) onAdoption(ctx context.Context, a adoption) {
	c.bridge = a.bridge
	// Ids this owner creates must not collide with its predecessors'
	// (a call adopted again after another kill included).
	c.seq = c.seqAbove(a)
	legs := map[string]*leg{}
	var found []foundLeg
	snapshot := map[string]SnapshotChannel{}
	add := func(ch SnapshotChannel, inBridge bool) {
		l := &leg{id: ch.ID, role: "caller", exten: c.adoptedExten(ch), name: ch.CallerName, created: c.createdHere(ch.ID),
			inBridge: inBridge, answered: ch.State == "Up", holding: ch.Holding}
		legs[l.id], snapshot[l.id] = l, ch
		f := foundLeg{id: l.id, exten: l.exten, created: l.created, inBridge: inBridge, answered: l.answered,
			down: l.created && ch.State == "Down" && !ch.Dialled, refer: ch.Refer != "", phone: strings.HasPrefix(ch.Name, "PJSIP/") && c.e.handlingOf(l.exten) == HandlingARIOnly}
		if !l.created {
			f.keyed = ch.VoicemailEntry
		}
		found = append(found, f)
	}
	for _, ch := range a.members {
		add(ch, true)
	}
	for _, ch := range a.others {
		c.log.Debug("adopting channel", zap.String("channel", ch.ID), zap.String("state", ch.State), zap.String("name", ch.Name))
		add(ch, false)
	}
	p := planAdoption(found)
	c.log.Info("adopting call", zap.Stringer("plan", p))
	c.carryOut(ctx, p, legs, snapshot)
}

// carryOut rebuilds the call as planned (planAdoption).
func (c *call) carryOut(ctx context.Context, p adoptionPlan, legs map[string]*leg, snapshot map[string]SnapshotChannel) {
	c.caller, c.callee, c.target = legs[p.caller], legs[p.callee], legs[p.target]
	if c.callee != nil {
		c.callee.role = "callee"
	}
	if c.target != nil {
		c.target.role = "target"
	}
	for _, id := range p.hangUp {
		c.hangup(ctx, legs[id], "normal")
	}
	for _, id := range p.tell {
		c.tellAdoptedTransferer(ctx, legs[id])
	}
	switch p.kind {
	case adoptTalking:
		c.state = stateTalking
	case adoptKeying, adoptKeyedAlone:
		c.state = stateTalking
		c.resumeVoicemailEntry(ctx, c.caller, c.callee, p.keyed)
	case adoptAnsweredUnheard:
		// (load harness, kills: "caller never saw the answer"). Connect
		// them as the answer would have.
		c.state = stateRinging
		c.stepBasic(ctx, ringingAdopted{caller: c.caller.id, callee: c.callee.id, dialled: c.callee.exten, calleeInBridge: true})
		c.callee.answered = false // (for onAnswered, which marks it)
		c.onAnswered(ctx, c.callee.id)
	case adoptUnheld:
		c.stopMusic(ctx, c.caller)
		if !c.join(ctx, c.caller) {
			c.end(ctx)
			return
		}
		c.state = stateTalking
	case adoptTargetAnswered:
		c.state = stateTransferRinging
		// (Nobody rang back to the transferee: nothing to stop.)
		c.stepBlind(ctx, targetRinging{transferee: c.caller.id, target: c.target.id, destination: c.target.exten})
		c.stepBlind(ctx, targetAnswered{channel: c.target.id})
	case adoptTargetRinging:
		c.blindRings(ctx, c.target, c.target.exten, "", false)
		c.state = stateTransferRinging
	case adoptRinging:
		c.state = stateRinging
		c.stepBasic(ctx, ringingAdopted{caller: c.caller.id, callee: c.callee.id, dialled: c.callee.exten, calleeInBridge: c.callee.inBridge})
	case adoptSettingUp:
		c.destroyFoundBridge(ctx)
		ch := snapshot[p.caller]
		c.caller = nil
		c.start(ctx, callArrived{channelID: ch.ID, channelName: ch.Name, callerExten: ch.CallerNumber, callerName: ch.CallerName, dialled: ch.Exten})
	case adoptCannotContinue:
		c.caller = &leg{gone: true}
		c.end(ctx)
	}
	if p.dial != "" {
		c.dialIfUndialled(ctx, legs[p.dial], true)
	}
	if p.resumeRefers {
		c.resumeRecordedRefers(snapshot)
	}
	if c.state == stateTalking {
		c.probeForLostRefers(p.probe)
	}
}

// tellAdoptedTransferer sends a transferer found beside the pair it
// connected the final NOTIFY its predecessor may not have sent, then lets
// its phone hang up (a second NOTIFY for a REFER already answered is
// refused by Asterisk and changes nothing).
func (c *call) tellAdoptedTransferer(ctx context.Context, l *leg) {
	c.log.Info("adopted a transferer beside the pair it connected; telling it the transfer worked", zap.String("channel", l.id))
	if l.inBridge {
		// (Still in the pair's bridge: it leaves before its phone is
		// told, not to hear them meanwhile.)
		cctx, cancel := c.cmdCtx(ctx)
		c.e.ast.RemoveFromBridge(cctx, c.bridge, l.id) // gone is fine
		cancel()
		l.inBridge = false
	}
	cctx, cancel := c.cmdCtx(ctx)
	err := c.e.ast.AwaitReferHandled(cctx, l.id)
	cancel()
	if err == nil {
		c.progress(ctx, l.id, progressAnswered)
	}
	c.letPhoneHangUp(ctx, l)
}

// dialIfUndialled dials a leg found created but perhaps never dialled
// (state Down: the predecessor died between the two requests). A phone's
// leg already dialled, not ringing yet, refuses a second dial: that error
// only says so; a leg across a trunk dialled again ended at once (load
// harness, nodes-kill.md). So a leg dialled to another node is marked
// (recordDial) and not found down, and every leg found down is looked at
// again first: one that rings by now was dialled. (Under load the
// predecessor's dial can be answered, and its mark written, a second
// after Asterisk acted on it; the other node rings meanwhile.)
func (c *call) dialIfUndialled(ctx context.Context, l *leg, undialled bool) {
	if !undialled {
		return
	}
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	switch state, err := c.e.ast.ChannelState(cctx, l.id); {
	case isGone(err):
		return // (its hangup is on its way)
	case err == nil && state != "Down":
		c.log.Info("adopted leg found Down rings by now: not dialled again", zap.String("channel", l.id), zap.String("state", state))
		return
	}
	if err := c.e.ast.Dial(cctx, l.id, "", c.e.cfg.dialTimeout(l.exten)); err != nil {
		c.log.Debug("adopted leg not dialled again", zap.String("channel", l.id), zap.Error(err))
		return
	}
	c.recordDial(ctx, l)
	c.log.Info("adopted leg had not been dialled; dialled it", zap.String("channel", l.id))
}

// destroyFoundBridge destroys the bridge the call was adopted with.
func (c *call) destroyFoundBridge(ctx context.Context) {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.DestroyBridge(cctx, c.bridge); err != nil && !isGone(err) {
		c.log.Warn("destroying the adopted call's bridge failed", zap.String("bridge", c.bridge), zap.Error(err))
	}
	c.e.release(c.bridge)
	c.bridge = ""
}

// seqAbove returns a sequence number above every one in the ids of what
// was found of the call, rounded up to the next thousand.
func (c *call) seqAbove(a adoption) int {
	highest := 0
	prefix := c.e.cfg.App + "-" + c.id + "-"
	for _, ch := range append(append([]SnapshotChannel{{ID: a.bridge}}, a.members...), a.others...) {
		rest, ok := strings.CutPrefix(ch.ID, prefix)
		if !ok {
			continue
		}
		digits := strings.TrimLeft(rest, "abcdefghijklmnopqrstuvwxyz")
		if n, err := strconv.Atoi(digits); err == nil && n > highest {
			highest = n
		}
	}
	return (highest/1000 + 1) * 1000
}

func (c *call) hangupAll(ctx context.Context, legs []*leg) {
	for _, l := range legs {
		c.hangup(ctx, l, "normal")
	}
}
