package transfer

import (
	"context"
	"errors"

	"go.uber.org/zap"
)

// Finding the REFERs a previous transferd lost. A transferd killed
// between reading a phone's ChannelTransfer and recording the REFER
// (referrecord.go) takes the REFER with it: Asterisk does not replay an
// event it wrote to a connection that died, and shows nothing of a
// pending ari-only REFER through ARI (res_pjsip_refer.c keeps it in a
// framehook on the transferer's channel, no variable or datastore). The
// phone got 202 and waits for a final NOTIFY nobody would send (load
// harness, a replica SIGKILLed every 30 s: the only failures left).
//
// But Asterisk answers for that REFER when asked: POST
// /channels/{id}/transfer_progress?states=channel_progress on a channel
// with a REFER pending sends its phone a NOTIFY "100 Trying" (the
// subscription stays active) and raises ChannelTransfer again, with state
// channel_progress and the REFER's details (Refer-To, Replaces, the
// channels Asterisk knows: res_pjsip_refer.c refer_ari_progress_framehook,
// res/ari/resource_channels.c); on a channel with none it does nothing
// and still answers 204. So a successor probes the parties of each call
// it adopted (the plan's probe list: adoptionplan.go), and the echo of a
// probe is the lost REFER, carried out as a fresh one (decideReferEcho).
//
// transferd never posts channel_progress otherwise, so an echo with that
// state answers a probe. Probes are sent after the calls are adopted and
// the connection is up (Asterisk drops the events of an application no
// connection serves), from goroutines of their own, a few at a time: at
// 100 calls a successor sends up to 200 probes (and 200 waits, below),
// which must not queue in front of the requests its calls make for new
// events (REST over the WebSocket is served one request at a time).

// probeConcurrency bounds the probes in flight per engine: few enough that
// a call's own request waits behind at most a few of them in Asterisk's
// queue, enough that 100 calls' probes take a fraction of a second
// (TestTakeoverProbeCost: 16 at a time doubled a REFER's wait).
const probeConcurrency = 4

// probeForLostRefers probes the call's parties ids (the adoption plan's
// probe list, or probeAfterReconnect's) for a REFER whose event was lost.
// It does not wait: the answer, if there is one, arrives as an input
// (onReferEcho).
func (c *call) probeForLostRefers(ids []string) {
	for _, id := range ids {
		if !c.legByID(id).live() {
			continue
		}
		if c.probed == nil {
			c.probed = make(map[string]bool, 2)
		}
		c.probed[id] = true
		c.e.probe(id, c.log)
	}
}

// probe asks Asterisk, from a goroutine of its own and within the
// engine's bound on probes in flight, whether a REFER is pending on
// channelID (transfer_progress channel_progress).
//
// It first waits for Asterisk to finish taking in any REFER the phone is
// sending (AwaitReferHandled): a progress report that reaches a REFER
// between Asterisk's ChannelTransfer and its storing of the REFER's state
// crashes Asterisk (call.awaitReferHandled). A REFER the previous
// transferd read is long taken in; this is for a fresh one crossing the
// probe.
func (e *Engine) probe(channelID string, log *zap.Logger) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		select {
		case e.probeSlots <- struct{}{}:
		case <-e.ctx.Done():
			return
		}
		defer func() { <-e.probeSlots }()
		ctx, cancel := context.WithTimeout(e.ctx, e.cfg.CommandTimeout)
		defer cancel()
		err := e.ast.AwaitReferHandled(ctx, channelID)
		if err == nil {
			err = e.ast.TransferProgress(ctx, channelID, progressTrying)
		}
		switch {
		case err == nil:
			log.Debug("probed a phone for a lost REFER", zap.String("channel", channelID))
		case isGone(err) || errors.Is(err, context.Canceled):
		default:
			log.Warn("could not probe a phone for a lost REFER", zap.String("channel", channelID), zap.Error(err))
		}
	}()
}

// onReferEcho handles Asterisk announcing again a REFER pending on one of
// the call's channels (decideReferEcho): the answer to a probe is a REFER
// the previous transferd lost, carried out as a fresh REFER would be.
func (c *call) onReferEcho(ctx context.Context, in transferRequested) {
	seen := referEcho{state: c.state, probed: c.probed[in.transfererID], party: c.partyLive(in.transfererID),
		transferring: c.attended.engaged() || c.blind.active()}
	verdict, reason := decideReferEcho(seen)
	if verdict == echoIgnore {
		c.log.Debug("REFER echo ignored", zap.String("transferer", in.transfererID), zap.Stringer("seen", seen), zap.String("reason", reason))
		return
	}
	delete(c.probed, in.transfererID)
	in.echo = false
	if verdict == echoRefuse {
		c.log.Warn("a REFER lost with the previous transferd (or the connection) was found, but the call cannot transfer now; refusing it",
			zap.String("transferer", in.transfererID), zap.String("destination", in.destination), zap.String("replaces", in.replaces),
			zap.String("reason", reason))
		c.awaitReferHandled(ctx, in.transfererID)
		c.progress(ctx, in.transfererID, progressDeclined)
		return
	}
	c.log.Info("a REFER lost with the previous transferd (or the connection) was found; carrying it out",
		zap.String("transferer", in.transfererID), zap.String("destination", in.destination), zap.String("replaces", in.replaces))
	c.onTransfer(ctx, in)
}

// partyLive reports whether channelID is one of the call's two parties,
// live.
func (c *call) partyLive(channelID string) bool {
	for _, l := range []*leg{c.caller, c.callee} {
		if l.live() && l.id == channelID {
			return true
		}
	}
	return false
}

// streamResumed: the event stream came back after a break (Reconcile);
// sip holds the ids of the SIP channels Asterisk holds. REFERs raised
// meanwhile are pending in Asterisk, their events lost.
type streamResumed struct{ sip map[string]bool }

func (streamResumed) inputName() string { return "stream-resumed" }

// onStreamResumed probes the call's phones for a REFER whose event was
// lost while the stream was broken (probeAfterReconnect).
func (c *call) onStreamResumed(in streamResumed) {
	var parties []resumedParty
	for _, l := range []*leg{c.caller, c.callee} {
		if l == nil {
			continue
		}
		parties = append(parties, resumedParty{id: l.id, live: l.live() && l.inBridge,
			phone:     in.sip[l.id] && !l.local && c.e.handlingOf(l.exten) == HandlingARIOnly,
			referOpen: c.referRecorded[l.id] || c.referHandled[l.id] != nil})
	}
	ids := probeAfterReconnect(c.state, c.attended.engaged() || c.blind.active(), parties)
	if len(ids) > 0 {
		c.log.Debug("probing the call's phones for a REFER lost with the connection", zap.Strings("channels", ids))
	}
	c.probeForLostRefers(ids)
}
