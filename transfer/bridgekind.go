package transfer

import (
	"context"
	"strings"

	"go.uber.org/zap"
)

// A call's bridge hears DTMF (mixing,dtmf_events: for the voicemail code
// keyed during the call) unless a plain bridge serves both parties: they
// never key the code (Config.ReferOnlyExtensions) or send their digits as
// SIP INFO (Config.InfoDTMFExtensions), which Asterisk reports in any
// bridge. A plain bridge is bridged natively by Asterisk when the
// channels allow it (native_rtp; an INFO phone with an RFC 4733 one stays
// simple_bridge: res_rtp_asterisk's dtmf_compatible). Its id says which,
// so a call adopted after a restart, or merged from a consultation, knows
// without asking (ARI does not show a bridge's dtmf_events).

// bridgeKind is the kind part of a bridge's id (newID).
func bridgeKind(plain bool) string {
	if plain {
		return "plainbridge"
	}
	return "bridge"
}

// bridgeIsPlain reports whether the call's bridge does not hear DTMF.
func (c *call) bridgeIsPlain() bool {
	return c.bridge != "" && strings.Contains(c.bridge, "-plainbridge")
}

// hearPartiesDigits replaces a plain bridge with one that hears DTMF once
// a party who keys the voicemail code in RFC 4733 talks in it (a transfer
// brought them in). It runs after every input, so every way a party
// changes is covered; it does nothing in the default configuration.
func (c *call) hearPartiesDigits(ctx context.Context) {
	if (c.e.cfg.referOnlyRE == nil && c.e.cfg.infoDTMFRE == nil) || c.state != stateTalking || c.digitsGivenUp || !c.bridgeIsPlain() {
		return
	}
	keys := false
	for _, l := range []*leg{c.caller, c.callee} {
		if l.live() && !c.e.cfg.plainBridgeServes(l.exten) {
			keys = true
		}
	}
	if keys {
		c.replaceBridge(ctx)
	}
}

// replaceBridge moves the call's parties into a new bridge that hears
// DTMF and destroys the plain one. The parties are apart for as long as
// one request takes; should a move fail, those moved go back, so the
// call keeps its audio and only the code goes unheard.
func (c *call) replaceBridge(ctx context.Context) {
	old, id := c.bridge, c.newID(bridgeKind(false))
	c.e.claim(id, c)
	giveUp := func(what string, err error) {
		c.e.release(id)
		c.digitsGivenUp = true // (one attempt per call: a retry at every input would flood Asterisk)
		c.log.Warn(what+": the voicemail code keyed during this call is not heard", zap.String("bridge", old), zap.Error(err))
	}
	cctx, cancel := c.cmdCtx(ctx)
	err := c.e.ast.CreateBridge(cctx, id, c.e.cfg.App+"/"+c.id, true)
	cancel()
	if err != nil {
		giveUp("creating a bridge that hears DTMF failed", err)
		return
	}
	var moved []*leg
	for _, l := range []*leg{c.caller, c.callee} {
		if !l.live() || !l.inBridge {
			continue
		}
		if err := c.addToBridge(ctx, id, l); err != nil {
			for _, m := range moved {
				if err := c.addToBridge(ctx, old, m); err != nil && !isGone(err) {
					c.log.Warn("moving a party back into its bridge failed", zap.String("bridge", old), zap.String("channel", m.id), zap.Error(err))
				}
			}
			c.destroyBridge(ctx, id)
			giveUp("moving a party into a bridge that hears DTMF failed", err)
			return
		}
		moved = append(moved, l)
	}
	c.bridge = id
	c.destroyBridge(ctx, old)
	c.e.release(old)
	c.log.Info("bridge replaced by one that hears DTMF: a party keys the voicemail code during calls",
		zap.String("old_bridge", old), zap.String("bridge", id))
}
