package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
)

// callState is what the people on a call experience.
type callState int

const (
	// stateArrived: the caller's call entered Stasis; nothing decided yet.
	stateArrived callState = iota
	// stateRinging: the caller hears ringback while the callee rings.
	stateRinging
	// stateTalking: caller and callee are bridged (either may hold).
	stateTalking
	// stateTransferRinging: a blind transfer is under way; the transferee
	// hears ringback while the target (or, on recall, the transferer) rings.
	stateTransferRinging
	// stateConsulting: an attended transfer started through the API: one
	// party waits with music, the other talks to the destination.
	stateConsulting
	// stateEnded: nothing of the call is left in Asterisk that transferd
	// owns; the owner goroutine returns.
	stateEnded
)

func (s callState) String() string {
	switch s {
	case stateArrived:
		return "arrived"
	case stateRinging:
		return "ringing"
	case stateTalking:
		return "talking"
	case stateTransferRinging:
		return "transfer-ringing"
	case stateConsulting:
		return "consulting"
	case stateEnded:
		return "ended"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// leg is one channel of a call.
type leg struct {
	id       string
	role     string // "caller", "callee", "target"
	exten    string // the extension this leg's phone has
	created  bool   // transferd created it (and must hang it up)
	answered bool
	// awaitingStasis: created, to be dialled when its StasisStart arrives.
	awaitingStasis bool
	inBridge       bool
	gone           bool // hung up or left Stasis
	// handedOff: sent on into the dialplan (voicemail); no longer ours.
	handedOff bool
	holding   bool // this leg's phone has put the call on hold
	// musicUntilResume: transferd plays music on hold to this leg, to be
	// stopped when the party holding it resumes (musicUntilResumed).
	musicUntilResume bool
	// local: a Local channel Asterisk put in place of this party's phone
	// (core transfer handling); no REFER of it reaches transferd.
	local     bool
	localName string // the Local channel's name, when local
	name      string // caller ID name, when known
}

func (l *leg) live() bool { return l != nil && !l.gone && !l.handedOff }

// call is one phone call under transferd's control, from the caller's
// StasisStart until everything transferd created for it is gone.
//
// Concurrency: a call's fields are read and written only by its owner
// goroutine (run), which takes inputs from the mailbox one at a time, in
// the order the engine received them. Nothing else touches a call except
// through box.put, so no field needs a lock.
type call struct {
	id     string
	e      *Engine
	log    *zap.Logger
	box    *mailbox
	state  callState
	seq    int      // for ids of things this call creates
	ids    []string // channel and bridge ids claimed in the engine
	bridge string

	caller *leg // the party whose call this is; the transferee of a transfer
	callee *leg // the party the caller talks to (after a transfer: the target)
	target *leg // a blind transfer's target while it rings

	// basic is the call's setup, from arrival to talking
	// (basicmachine.go).
	basic basicMachine
	// blind is the call's blind transfer (blindmachine.go): under way in
	// stateTransferRinging (and while a REFER's target is dialled).
	blind blindMachine
	// attended is the call's attended transfer (attendedmachine.go).
	attended attendedMachine
	// handOverTo is the consultation call the attended transfer's
	// askHandOver goes to; attendedLegs, the legs the transfer names that
	// may leave the call's parties (attendedLeg); merging, the
	// consultation call being merged in (onAbsorbed); tellTimer, the
	// machine's startTellTimer.
	handOverTo   *call
	attendedLegs []*leg
	merging      *absorbed
	tellTimer    *time.Timer
	// vm is the voicemail entry: a feature code and a mailbox number
	// being keyed (vmentry.go); digitTimer is its timer.
	vm         vmEntry
	digitTimer *time.Timer
	// consult is an attended transfer started through the API.
	consult *consultation
	// departing: transferers' legs that left the call, waiting for their
	// phones' BYE (letPhoneHangUp), each with its timer.
	departing map[string]*time.Timer
	// referHandled: for each of the call's phones whose latest REFER has
	// had no progress report yet, closed once Asterisk finished taking
	// that REFER in (awaitReferHandled, progress).
	referHandled map[string]chan struct{}
	// referRecorded: the call's phones whose REFER is recorded in
	// Asterisk (recordRefer) and not settled yet.
	referRecorded map[string]bool
	// xfer is the transfer the call reports to the Observer.
	xfer    *transferRecord
	xferSeq int

	// replaced: channels Asterisk swapped out of the call (core transfer
	// handling); hung up when the call ends if their phone has not.
	replaced []string

	extens []string // extensions of the call's legs (engine.noteExten)
	rest   []input  // inputs of the current batch not processed yet
	merged bool     // this call was merged into another; its owner stops
}

// run is the owner loop: it processes inputs until the call has ended and
// nothing is queued for it any more.
func (c *call) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			// The controller is stopping, not the call: leave everything in
			// Asterisk as it is (a successor can adopt it).
			c.log.Info("controller stopping; leaving call in Asterisk", zap.Stringer("state", c.state))
			c.e.abandon(c)
			return
		case <-c.box.ready:
		}
		c.e.stepping.Add(1) // before take: Engine.Quiet must not miss the batch
		batch := c.box.take()
		for i, in := range batch {
			if len(c.quiescedPart(batch[i:])) == 0 {
				// Handing over: a successor learns the rest from Asterisk.
				c.box.requeue(batch[i:])
				break
			}
			c.rest = batch[i+1:]
			c.step(ctx, in)
			if c.merged {
				break // the rest went to the call this one merged into
			}
		}
		c.rest = nil
		c.e.stepping.Add(-1)
		if c.state == stateEnded && len(c.departing) == 0 && c.e.retire(c) {
			return
		}
	}
}

// step applies one input and logs the transition in one place.
func (c *call) step(ctx context.Context, in input) {
	before := c.state
	if c.onDeparture(ctx, in) {
		return
	}
	if c.state == stateEnded {
		if a, ok := in.(absorbed); ok {
			// A consultation merged into this call just as it ended: it
			// carries on as a call of its own.
			c.adopt(ctx, a)
		} else if r, ok := in.(handOverRequest); ok {
			c.refuseHandOver(r, "the consultation call has ended")
		} else if r, ok := in.(apiRequest); ok {
			r.reply <- apiReply{err: fmt.Errorf("call %q has ended: %w", c.id, ErrNoSuchCall)}
		} else {
			c.log.Debug("input after end ignored", zap.String("input", in.inputName()))
		}
		return
	}
	switch in := in.(type) {
	case callArrived:
		if c.caller == nil {
			c.start(ctx, in)
		} else { // later StasisStarts are of channels transferd created
			c.onLegInStasis(ctx, in.channelID)
		}
	case adoption:
		c.onAdoption(ctx, in)
	case legAnswered:
		c.onAnswered(ctx, in.channelID)
	case dialEnded:
		c.onDialEnded(ctx, in)
	case legGone:
		c.onGone(ctx, in)
		if in.destroyed && c.attended.telling() {
			c.stepAttended(ctx, consultDestroyed{channel: in.channelID})
		}
	case deferredProgressDue:
		c.onTellDue(ctx, in)
	case transferRequested:
		c.onTransfer(ctx, in)
	case legReplaced:
		c.onLegReplaced(ctx, in)
	case nativeAttended:
		c.onNativeAttended(ctx, in)
	case holdChanged:
		// Asterisk itself plays music on hold to the other party of a
		// mixing bridge when a phone holds; the engine only notes who
		// holds, for a transferer who hangs up during a consultation.
		if l := c.legByID(in.channelID); l != nil {
			l.holding = in.onHold
			c.rememberHold(ctx, l)
			if held := c.otherParty(l); !in.onHold && held.live() && held.musicUntilResume {
				held.musicUntilResume = false
				c.stopMusic(ctx, held)
			}
		}
		c.log.Info("hold", zap.String("channel", in.channelID), zap.Bool("on_hold", in.onHold))
	case handOverRequest:
		c.onHandOverRequest(ctx, in)
	case handOverRefused:
		c.stepAttended(ctx, in)
	case absorbed:
		c.onAbsorbed(ctx, in)
	case apiRequest:
		c.onAPI(ctx, in)
	case dtmfReceived:
		c.onDTMF(ctx, in)
	case digitTimerFired:
		c.stepEntry(ctx, in)
	case playbackFinished:
		// Prompts play to their end on their own.
	default:
		c.log.Warn("unexpected input", zap.String("input", in.inputName()))
	}
	if c.state != before {
		// (Debug: the Info lines of each step already say what happened;
		// this one doubled the log's volume and cost under load.)
		c.log.Debug("transition", zap.String("from", before.String()),
			zap.String("input", in.inputName()), zap.String("to", c.state.String()))
	}
}

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

// leg returns the call's live leg with a channel id, or nil.
func (c *call) legByID(id string) *leg {
	for _, l := range []*leg{c.caller, c.callee, c.target} {
		if l != nil && l.id == id {
			return l
		}
	}
	return nil
}

// newID returns an id for something this call creates. Ids carry the app,
// the call id and the kind, so a restarted transferd can recognise its own
// resources in Asterisk.
func (c *call) newID(kind string) string {
	c.seq++
	return fmt.Sprintf("%s-%s-%s%d", c.e.cfg.App, c.id, kind, c.seq)
}

// cmdCtx bounds one ARI request.
func (c *call) cmdCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.e.cfg.CommandTimeout)
}

// start handles the caller's arrival: the basic call's machine routes
// the dialled extension, creates the bridge and the callee's channel and
// rings the caller (basicmachine.go).
func (c *call) start(ctx context.Context, in callArrived) {
	c.caller = &leg{id: in.channelID, role: "caller", exten: in.callerExten, name: in.callerName}
	c.e.noteExten(in.callerExten, c)
	c.log = c.log.With(zap.String("caller", in.channelID), zap.String("dialled", in.dialled))
	c.log.Info("call arrived", zap.String("channel_name", in.channelName), zap.String("caller_exten", in.callerExten))
	c.stepBasic(ctx, callerArrived{caller: party{channel: in.channelID, exten: in.callerExten}, dialled: in.dialled,
		clearTimeout: in.clearTimeout, core: c.e.handlingOf(in.callerExten) == HandlingCore})
}

// dialLeg creates and dials a channel to dialString. An error means the
// destination cannot be reached at all (no such endpoint).
func (c *call) dialLeg(ctx context.Context, role, exten, dialString, originator string) (*leg, error) {
	l := &leg{id: c.newID(role), role: role, exten: exten, created: true}
	c.e.claim(l.id, c)
	vars := map[string]string{
		// Lets a restarted transferd find the call this leg belongs to.
		"TRANSFERD_CALL": c.id,
		"TRANSFERD_ROLE": role,
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
	if err := c.e.ast.Dial(cctx, l.id, "", c.e.cfg.AnswerTimeout); err != nil {
		c.log.Warn("dial failed", zap.String("channel", l.id), zap.Error(err))
		return false
	}
	return true
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
		c.consultingAnswered(ctx)
	}
}

// join adds a leg to the call's bridge.
func (c *call) join(ctx context.Context, l *leg) bool {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.AddToBridge(cctx, c.bridge, l.id); err != nil {
		c.log.Warn("add to bridge failed", zap.String("channel", l.id), zap.Error(err))
		return false
	}
	l.inBridge = true
	return true
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
		c.consultingLegGone(ctx, l)
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
		c.consultingLegGone(ctx, l)
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
		c.log.Warn("hangup failed", zap.String("channel", l.id), zap.Error(err))
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
