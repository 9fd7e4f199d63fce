package transfer

import (
	"context"
	"slices"
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

// adoptedExten is the extension of an adopted channel's phone: the
// endpoint transferd dialled, or the caller's number.
func (c *call) adoptedExten(ch SnapshotChannel) string {
	if c.createdHere(ch.ID) {
		return extenFromChannelName(ch.Name)
	}
	return ch.CallerNumber
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
//   - anything else: what is left of the call ends.
func (c *call) onAdoption(ctx context.Context, a adoption) {
	c.bridge = a.bridge
	// Ids this owner creates must not collide with its predecessors'
	// (a call adopted again after another kill included).
	c.seq = c.seqAbove(a)
	newLeg := func(ch SnapshotChannel, inBridge bool) *leg {
		created := c.createdHere(ch.ID)
		return &leg{id: ch.ID, role: "caller", exten: c.adoptedExten(ch), name: ch.CallerName, created: created, inBridge: inBridge,
			answered: ch.State == "Up", holding: ch.Holding}
	}
	// members: in the bridge; outside: a party (not created by transferd)
	// out of the bridge; up, ringing: legs transferd dialled, answered or not.
	var members, outside, up, ringing []*leg
	keyed := map[*leg]string{}   // a party held for *8: its recorded entry
	undialled := map[*leg]bool{} // created, "Down": perhaps never dialled
	found := map[*leg]SnapshotChannel{}
	legOf := func(ch SnapshotChannel, inBridge bool) *leg {
		l := newLeg(ch, inBridge)
		found[l] = ch
		if l.created && ch.State == "Down" {
			undialled[l] = true
		}
		return l
	}
	for _, ch := range a.members {
		l := legOf(ch, true)
		if l.created && !l.answered {
			// A callee rings in the call's bridge (onLegInStasis).
			ringing = append(ringing, l)
			continue
		}
		members = append(members, l)
	}
	for _, ch := range a.others {
		c.log.Debug("adopting channel", zap.String("channel", ch.ID), zap.String("state", ch.State), zap.String("name", ch.Name))
		switch l := legOf(ch, false); {
		case !l.created:
			outside = append(outside, l)
			if ch.VoicemailEntry != "" {
				keyed[l] = ch.VoicemailEntry
			}
		case l.answered:
			up = append(up, l)
		default:
			ringing = append(ringing, l)
		}
	}
	all := append(append(append(append([]*leg(nil), members...), outside...), up...), ringing...)
	c.log.Info("adopting call", zap.Int("in_bridge", len(members)), zap.Int("outside", len(outside)),
		zap.Int("answered_outside", len(up)), zap.Int("ringing", len(ringing)))
	extra := func(keep ...*leg) []*leg {
		var out []*leg
		for _, l := range all {
			if !slices.Contains(keep, l) {
				out = append(out, l)
			}
		}
		return out
	}
	switch {
	case len(members) == 2:
		c.caller, c.callee = members[0], members[1]
		if members[0].created && !members[1].created {
			c.caller, c.callee = members[1], members[0]
		}
		c.callee.role = "callee"
		c.state = stateTalking
		for _, l := range extra(members...) {
			if l.answered && (!l.created || found[l].Refer != "") {
				// A phone's leg beside a talking pair: a transferer whose
				// transfer completed while its final NOTIFY was still held
				// back (destroyWait). Tell it. (A leg transferd
				// created, a blind transfer's target transferring on, is
				// one only if its REFER is on record.)
				c.tellAdoptedTransferer(ctx, l)
				continue
			}
			c.hangup(ctx, l, "normal")
		}
		c.resumeRecordedRefers(found)
	case len(members) == 1 && len(outside) == 1 && keyed[outside[0]] != "":
		// A *8 being keyed: the user goes on keying.
		c.caller, c.callee = outside[0], members[0]
		c.callee.role = "callee"
		c.hangupAll(ctx, extra(c.caller, c.callee))
		c.state = stateTalking
		c.resumeVoicemailEntry(ctx, c.caller, c.callee, keyed[c.caller])
	case len(members) == 0 && len(outside) == 1 && keyed[outside[0]] != "":
		// The user hung up after keying, while nobody listened.
		c.caller = outside[0]
		c.hangupAll(ctx, extra(c.caller))
		c.state = stateTalking
		c.resumeVoicemailEntry(ctx, c.caller, nil, keyed[c.caller])
	case len(members) == 1 && len(outside) == 1 && !outside[0].answered && members[0].created:
		// The callee answered while nobody listened; its caller, not
		// answered yet, still hears ringback (load harness, kills:
		// "caller never saw the answer"). Connect them as the answer
		// would have.
		c.caller, c.callee = outside[0], members[0]
		c.callee.role = "callee"
		c.hangupAll(ctx, extra(c.caller, c.callee))
		c.state = stateRinging
		c.stepBasic(ctx, ringingAdopted{caller: c.caller.id, callee: c.callee.id, dialled: c.callee.exten, calleeInBridge: true})
		c.callee.answered = false // (for onAnswered, which marks it)
		c.onAnswered(ctx, c.callee.id)
	case len(members) == 1 && len(outside) == 1:
		// A party held out of the bridge, no entry recorded (a *8 keyed
		// when the predecessor could not record it): revert.
		c.caller, c.callee = outside[0], members[0]
		c.callee.role = "callee"
		c.stopMusic(ctx, c.caller)
		c.hangupAll(ctx, extra(c.caller, c.callee))
		if !c.join(ctx, c.caller) {
			c.end(ctx)
			return
		}
		c.state = stateTalking
		c.resumeRecordedRefers(found)
	case len(members) == 1 && len(up) == 1:
		// The target answered while nobody was listening: connect it.
		c.caller, c.target = members[0], up[0]
		c.target.role = "target"
		c.hangupAll(ctx, extra(c.caller, c.target))
		c.state = stateTransferRinging
		// (Nobody rang back to the transferee: nothing to stop.)
		c.stepBlind(ctx, targetRinging{transferee: c.caller.id, target: c.target.id, destination: c.target.exten})
		c.stepBlind(ctx, targetAnswered{channel: c.target.id})
	case len(members) == 1 && len(ringing) >= 1:
		// A blind transfer's target (or a recall) rings.
		c.caller, c.target = members[0], ringing[0]
		c.target.role = "target"
		c.hangupAll(ctx, extra(c.caller, c.target))
		c.blindRings(ctx, c.target, c.target.exten, "", false)
		c.state = stateTransferRinging
		c.dialIfUndialled(ctx, c.target, undialled[c.target])
	case len(members) == 0 && len(outside) == 1 && len(ringing) == 1:
		// The caller hears ringback while the callee rings (or is about
		// to: the predecessor died between creating and dialling it).
		c.caller, c.callee = outside[0], ringing[0]
		c.callee.role = "callee"
		c.state = stateRinging
		c.stepBasic(ctx, ringingAdopted{caller: c.caller.id, callee: c.callee.id, dialled: c.callee.exten, calleeInBridge: c.callee.inBridge})
		c.dialIfUndialled(ctx, c.callee, undialled[c.callee])
	case len(members) == 0 && len(outside) == 1 && len(ringing) == 0 && len(up) == 0 && !outside[0].answered:
		// The call was being set up (the predecessor died before it
		// created the callee's leg): set it up again.
		c.log.Info("adopted call was being set up; setting it up again")
		c.destroyFoundBridge(ctx)
		ch := found[outside[0]]
		c.start(ctx, callArrived{channelID: ch.ID, channelName: ch.Name, callerExten: ch.CallerNumber, callerName: ch.CallerName, dialled: ch.Exten})
	default:
		c.log.Info("adopted call cannot continue; ending what is left of it")
		c.hangupAll(ctx, all)
		c.caller = &leg{gone: true}
		c.end(ctx)
	}
}

// tellAdoptedTransferer sends a transferer found beside the pair it
// connected the final NOTIFY its predecessor may not have sent, then lets
// its phone hang up (a second NOTIFY for a REFER already answered is
// refused by Asterisk and changes nothing).
func (c *call) tellAdoptedTransferer(ctx context.Context, l *leg) {
	c.log.Info("adopted a transferer beside the pair it connected; telling it the transfer worked", zap.String("channel", l.id))
	cctx, cancel := c.cmdCtx(ctx)
	err := c.e.ast.AwaitReferHandled(cctx, l.id)
	cancel()
	if err == nil {
		c.progress(ctx, l.id, progressAnswered)
	}
	c.letPhoneHangUp(ctx, l)
}

// dialIfUndialled dials a leg found created but perhaps never dialled
// (state Down: the predecessor died between the two requests). A leg
// already dialled (its phone not ringing yet) refuses a second dial: that
// error only says so.
func (c *call) dialIfUndialled(ctx context.Context, l *leg, undialled bool) {
	if !undialled {
		return
	}
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.Dial(cctx, l.id, "", c.e.cfg.AnswerTimeout); err != nil {
		c.log.Debug("adopted leg not dialled again", zap.String("channel", l.id), zap.Error(err))
		return
	}
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
