package transfer

import (
	"context"
	"net/url"

	"go.uber.org/zap"
)

// referVariable keeps, on a transferer's channel in Asterisk, the REFER
// transferd is carrying out for it, from the moment it is handled until its
// outcome is settled. Asterisk shows no trace of a REFER through ARI, and
// does not replay an event it wrote to a connection that died: a replica
// killed between reading a REFER and sending its final NOTIFY left the
// phone waiting for a NOTIFY nobody would send (load harness, a replica
// SIGKILLed every 30 s: about half the failed calls). A successor that
// finds the record on a party of a talking call carries the REFER out
// again (adoption): for a blind transfer that the predecessor had begun,
// the target it may have dialled was hung up with the rest of the half-done
// step, and a second final NOTIFY for a REFER already answered changes
// nothing (Asterisk has detached the REFER's progress hook). Empty: none.
const referVariable = "TRANSFERD_REFER"

// encodeRefer writes what a successor needs to carry the REFER out again.
func encodeRefer(in transferRequested) string {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("to", in.destination)
	set("transferee", in.transfereeID)
	set("replaces", in.replaces)
	set("target", in.targetID)
	set("consult", in.consultID)
	return v.Encode()
}

// decodeRefer reads a record of transfererID's REFER.
func decodeRefer(transfererID, record string) (transferRequested, bool) {
	v, err := url.ParseQuery(record)
	if err != nil || (v.Get("to") == "" && v.Get("replaces") == "") {
		return transferRequested{}, false
	}
	return transferRequested{
		transfererID: transfererID,
		destination:  v.Get("to"),
		transfereeID: v.Get("transferee"),
		replaces:     v.Get("replaces"),
		targetID:     v.Get("target"),
		consultID:    v.Get("consult"),
	}, true
}

// recordRefer writes the record of a REFER about to be carried out on the
// transferer's channel. Failing to write it only costs the REFER its
// resumption by a successor.
func (c *call) recordRefer(ctx context.Context, in transferRequested) {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.SetVariable(cctx, in.transfererID, referVariable, encodeRefer(in)); err != nil {
		c.log.Info("REFER not recorded in Asterisk; a successor could not resume it", zap.String("transferer", in.transfererID), zap.Error(err))
		return
	}
	if c.referRecorded == nil {
		c.referRecorded = map[string]bool{}
	}
	c.referRecorded[in.transfererID] = true
}

// forgetRefer erases the record of channelID's REFER before a final report
// that leaves its phone in the call (refused, failed): a successor must not
// carry out a REFER whose phone was told it failed. (Erased first: should
// transferd die between the two, the phone waits for its NOTIFY; the other
// order could transfer the call after the user was told it failed.)
func (c *call) forgetRefer(ctx context.Context, channelID string) {
	if !c.referRecorded[channelID] {
		return
	}
	delete(c.referRecorded, channelID)
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.SetVariable(cctx, channelID, referVariable, ""); err != nil && !isGone(err) {
		c.log.Warn("REFER record not erased; a successor adopting the call could carry it out",
			zap.String("transferer", channelID), zap.Error(err))
	}
}

// resumeRecordedRefers carries out again, after adoption, the REFER
// recorded on a party of the (now talking) call.
func (c *call) resumeRecordedRefers(found map[string]SnapshotChannel) {
	for _, l := range []*leg{c.caller, c.callee} {
		if !l.live() || !l.inBridge {
			continue
		}
		in, ok := decodeRefer(l.id, found[l.id].Refer)
		if !ok {
			continue
		}
		c.log.Info("adopted a REFER the predecessor had not settled; carrying it out", zap.String("transferer", l.id),
			zap.String("destination", in.destination), zap.String("replaces", in.replaces))
		c.box.put(in)
	}
}
