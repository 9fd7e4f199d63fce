package transfer

import (
	"context"
	"strings"

	"go.uber.org/zap"
)

// Core transfer handling, the fallback to ari-only: for the phones of
// Config.CoreExtensions, Asterisk answers a REFER itself (the phone is told
// the transfer succeeded at once) and rearranges the call with Local
// channels; transferd follows:
//
//   - Blind: Asterisk puts Local/<number>@<TransferContext>;1 in the
//     transferer's place in the call's bridge, and its ;2 half waits in
//     the dialplan. The call takes the Local pair out again and carries on as
//     with a blind transfer transferd received itself (policy, ringback,
//     voicemail or recall when the target does not answer). Nobody can be
//     told that a refused or unknown number failed (Asterisk already said
//     it worked), so the transferer is rung back instead.
//   - Attended: Asterisk replaces the transferer's two legs with the two
//     halves of a Local pair (linking the two bridges, or standing in for
//     the consultation leg while the colleague still rings), hangs the
//     legs up and raises BridgeAttendedTransfer. The call holding one half asks the call
//     holding the other to hand itself over, as for a REFER with Replaces,
//     and the hand-over removes the Local pair: the caller and the
//     colleague share one bridge, as in ari-only mode.

// transferHandlingVars are the channel variables that give the phone of
// exten its transfer handling.
func (c *call) transferHandlingVars(exten string) map[string]string {
	if c.e.handlingOf(exten) == HandlingCore {
		return map[string]string{
			"PJSIP_TRANSFER_HANDLING()": HandlingCore,
			// Where Asterisk looks a blind transfer's number up.
			"TRANSFER_CONTEXT": c.e.cfg.TransferContext,
		}
	}
	return map[string]string{"PJSIP_TRANSFER_HANDLING()": HandlingARIOnly}
}

// localKey is the routing key of a Local channel by name: the call holding
// one half of a pair finds the call holding the other half with it.
func localKey(name string) string { return "local:" + name }

// localPartner returns the name of the other half of a Local channel
// ("Local/x@ctx-00000005;1" ↔ "Local/x@ctx-00000005;2").
func localPartner(name string) string {
	base, half, _ := strings.Cut(name, ";")
	if half == "1" {
		return base + ";2"
	}
	return base + ";1"
}

// localExten returns the extension a Local channel dials
// ("Local/103@ctx-00000005;1" → "103").
func localExten(name string) string {
	exten, _, _ := strings.Cut(strings.TrimPrefix(name, "Local/"), "@")
	return exten
}

// attendedLinkExten is the extension of the Local pair Asterisk links two
// bridges with when it completes an attended transfer.
const attendedLinkExten = "_attended"

// onLegReplaced follows a channel Asterisk swapped in for one of the
// call's legs.
func (c *call) onLegReplaced(ctx context.Context, in legReplaced) {
	l := c.legByID(in.oldID)
	if l == nil || !l.live() {
		c.log.Warn("Asterisk replaced a channel the call no longer has; hanging up the replacement",
			zap.String("replaced", in.oldID), zap.String("channel", in.newID))
		c.hangup(ctx, &leg{id: in.newID}, "normal")
		return
	}
	c.log.Info("Asterisk transferred the call itself (core handling)", zap.String("role", l.role),
		zap.String("replaced", in.oldID), zap.String("channel", in.newID), zap.String("channel_name", in.newName))
	// The phone's own channel leaves: its phone hangs up once told the
	// transfer worked (Asterisk hangs it up itself after an attended one);
	// the call hangs up what is left of it when it ends.
	c.replaced = append(c.replaced, in.oldID)
	c.stepEntry(ctx, partyReplaced{old: in.oldID, new: in.newID})
	c.stepBlind(ctx, partyReplaced{old: in.oldID, new: in.newID})
	c.stepBasic(ctx, partyReplaced{old: in.oldID, new: in.newID})
	c.stepAttended(ctx, partyReplaced{old: in.oldID, new: in.newID})
	c.stepConsult(ctx, partyReplaced{old: in.oldID, new: in.newID})
	l.id, l.local, l.localName, l.created = in.newID, true, in.newName, true
	l.holding = false
	// Asterisk's transfer takes the call over: a voicemail entry being
	// keyed gives way, its held party back in the bridge.
	c.stepEntry(ctx, transferTakesOver{})
	destination := localExten(in.newName)
	if destination == attendedLinkExten {
		// BridgeAttendedTransfer follows once both halves are in place.
		return
	}
	c.nativeBlind(ctx, l, destination)
}

// nativeBlind carries on a blind transfer Asterisk started: transferer is
// now the Local channel that dials destination.
func (c *call) nativeBlind(ctx context.Context, transferer *leg, destination string) {
	// An attended transfer under way has the call already (both parties'
	// phones transferring at once): taken as a transferee, its Local link
	// to the consultation went to voicemail, and the colleague's phone
	// rang on for it (engine fuzz).
	if c.state != stateTalking || c.attended.busy() {
		c.log.Info("Asterisk transferred a call that is not in a state to transfer; treating it as the transferer hanging up",
			zap.Stringer("state", c.state), zap.Stringer("attended", c.attended))
		c.hangup(ctx, transferer, "normal")
		transferer.gone = false // let onGone apply the state's rules
		c.onGone(ctx, legGone{channelID: transferer.id})
		return
	}
	transferee := c.otherParty(transferer)
	// The Local pair goes (its dialplan half with it): transferd dials the
	// number itself, so the transferee is in one bridge with the target.
	c.leaveBridge(ctx, c.bridge, transferer)
	c.hangup(ctx, transferer, "normal")
	c.stepEntry(ctx, partyLeft{channel: transferer.id})
	// From here the transferee is the call's caller, whatever follows.
	c.caller, c.callee = transferee, transferer
	c.blindReferred(ctx, transferer, transferee, destination, true)
}

// recallAfterNative rings the transferer back for the transferee after a
// transfer Asterisk accepted could not be carried out: the transferer's
// phone was already told it worked and has left.
func (c *call) recallAfterNative(ctx context.Context, transferer, transferee *leg) {
	c.log.Info("transfer Asterisk accepted cannot be carried out; ringing the transferer back",
		zap.String("transferer", transferer.exten))
	c.recallTransferer(ctx, transferer, transferee, transferer.exten)
}

// resumeHoldMusic gives the party a transferer holds music on hold again
// after Asterisk's own attended transfer failed: Asterisk took the
// transferer's channel off hold as it started (ChannelUnhold) and, when
// the transfer failed (the colleague hung up at that instant, say), left
// the held caller in silence while the phone still holds. transferd plays
// the music until the phone resumes.
func (c *call) resumeHoldMusic(ctx context.Context, transferer *leg) {
	if !transferer.live() || transferer.local || transferer.holding {
		return
	}
	if held := c.otherParty(transferer); held.live() && held.inBridge {
		c.musicUntilResumed(ctx, held)
	}
}

// onNativeAttended follows an attended transfer Asterisk completed by
// linking the transferer's two bridges with a Local pair: this call holds
// one half; the call holding the other hands itself over.
func (c *call) onNativeAttended(ctx context.Context, in nativeAttended) {
	log := c.log.With(zap.String("transfer", string(KindAttended)), zap.String("result", in.result),
		zap.String("destination_type", in.destinationType))
	if in.result != "Success" {
		log.Info("Asterisk's attended transfer did not happen; nothing changed")
		c.resumeHoldMusic(ctx, c.legByID(in.transfererFirstLeg))
		return
	}
	var mine *leg
	for _, l := range []*leg{c.caller, c.callee} {
		if l.live() && l.local && localExten(l.localName) == attendedLinkExten {
			mine = l
		}
	}
	if mine == nil {
		log.Warn("Asterisk's attended transfer left no Local channel in this call")
		return
	}
	// "link": the pair joins two bridges; "application": the consultation
	// was still ringing and its half stands in for the transferer's
	// consultation leg in Stasis. Either way the other call holds the
	// partner half.
	consultation := c.e.ownerOf(localKey(localPartner(mine.localName)))
	consultID := ""
	for _, id := range in.links {
		if id != "" && id != mine.id {
			consultID = id
		}
	}
	if c.state != stateTalking {
		log.Warn("cannot join the two calls Asterisk linked; ringing the transferer back",
			zap.String("link", mine.localName), zap.Stringer("state", c.state))
		c.unlink(ctx, mine)
		return
	}
	name := ""
	if consultation != nil && consultation != c {
		log.Info("Asterisk linked the transferer's two calls; joining them", zap.String("consult_call", consultation.id))
		name = c.toHandOver(consultation, mine)
	}
	c.stepAttended(ctx, attendedReferred{transferer: party{channel: mine.id, exten: mine.exten}, transferee: c.otherParty(mine).id,
		bridge: c.bridge, consultID: consultID, consultation: name, byAsterisk: true})
}

// unlink removes this call's half of a Local link pair (the other call
// then sees its half go) and rings the transferer back for the party left
// alone.
func (c *call) unlink(ctx context.Context, link *leg) {
	transferee := c.otherParty(link)
	c.leaveBridge(ctx, c.bridge, link)
	c.hangup(ctx, link, "normal")
	c.stepEntry(ctx, partyLeft{channel: link.id})
	if c.state != stateTalking || !transferee.live() {
		c.end(ctx)
		return
	}
	c.recallAfterNative(ctx, link, transferee)
}

// hangupReplaced hangs up the phone channels Asterisk swapped out of the
// call whose phones have not hung up themselves.
func (c *call) hangupReplaced(ctx context.Context) {
	for _, id := range c.replaced {
		c.hangup(ctx, &leg{id: id}, "normal")
	}
	c.replaced = nil
}
