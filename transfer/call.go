package transfer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"
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
	// party waits with music, the other talks to the destination
	// (consultmachine.go).
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
	// digitsGivenUp: a plain bridge could not be replaced by one that
	// hears DTMF (bridgekind.go); not tried again.
	digitsGivenUp bool

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
	// finish: the entry's number is complete: the held party to its
	// mailbox, or the fallbacks (vmfinish.go).
	finish vmFinish
	// consult is the call's transfer started through the API
	// (consultmachine.go): under way in stateConsulting (and while its
	// destination is dialled). apiReply is where the API request being
	// stepped waits for the machine's answer (askConsult).
	consult  consultMachine
	apiReply chan apiReply
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
	// probed: the call's phones probed for a REFER the previous
	// transferd lost (probeForLostRefers) whose phone has sent the owner
	// no REFER since: the answer to the probe, if one is pending, is that
	// REFER (decideReferEcho).
	probed map[string]bool
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
	case streamResumed:
		c.onStreamResumed(in)
	case transferRequested:
		if in.echo {
			c.onReferEcho(ctx, in)
		} else {
			c.onTransfer(ctx, in)
		}
	case legReplaced:
		c.onLegReplaced(ctx, in)
	case nativeAttended:
		c.onNativeAttended(ctx, in)
	case holdChanged:
		c.onHold(ctx, in)
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
	c.hearPartiesDigits(ctx)
	if c.state != before {
		// (Debug: the Info lines of each step already say what happened;
		// this one doubled the log's volume and cost under load.)
		c.log.Debug("transition", zap.String("from", before.String()),
			zap.String("input", in.inputName()), zap.String("to", c.state.String()))
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

// legNamed returns the leg of a channel a machine names: one of the
// call's parties, or a leg a transfer involves that is no longer one
// (an attended transfer's transferer after completion, the
// consultation's legs). A stand-in keeps a command harmless should none
// be known (a leg gone meanwhile).
//
// (Not inlined: the executors name a dozen legs each, and every inlined
// copy took its own slots in their frames, which made each call's owner
// goroutine grow its stack.)
//
//go:noinline
func (c *call) legNamed(id string) *leg {
	if l := c.legByID(id); l != nil {
		return l
	}
	for _, l := range c.attendedLegs {
		if l != nil && l.id == id {
			return l
		}
	}
	return &leg{id: id, gone: true}
}

// talkTo makes a transfer's transferee and colleague the call's parties;
// the call talks.
func (c *call) talkTo(cmd talkTo) {
	colleague := c.legNamed(cmd.colleague)
	c.caller, c.callee, c.target = c.legNamed(cmd.transferee), colleague, nil
	colleague.role = "callee"
	c.state = stateTalking
}

// returnTo makes a transfer's transferee and transferer the call's
// parties again.
func (c *call) returnTo(cmd returnTo) {
	c.caller, c.callee, c.target = c.legNamed(cmd.transferee), c.legNamed(cmd.transferer), nil
}

// newID returns an id for something this call creates. Ids carry the app,
// the call id and the kind, so a restarted transferd can recognise its own
// resources in Asterisk.
func (c *call) newID(kind string) string {
	c.seq++
	// (Concatenated, not fmt.Sprintf: fmt's deep frames grew every owner
	// goroutine's stack once per call, a copy that cost more than the rest
	// of the step.)
	return c.e.cfg.App + "-" + c.id + "-" + kind + strconv.Itoa(c.seq)
}

// cmdCtx bounds one ARI request.
func (c *call) cmdCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.e.cfg.CommandTimeout)
}

// onHold notes a phone holding or resuming (decideHold).
func (c *call) onHold(ctx context.Context, in holdChanged) {
	l := c.legByID(in.channelID)
	if l == nil {
		return
	}
	l.holding = in.onHold
	other := c.otherParty(l)
	seen := holdSeen{channel: l.id, onHold: in.onHold}
	if other.live() {
		seen.other, seen.musicForOther = other.id, other.musicUntilResume
	}
	cmds := decideHold(seen)
	c.log.Info("hold", zap.Stringer("seen", seen), zap.Stringers("commands", cmds))
	for _, cmd := range cmds {
		switch cmd := cmd.(type) {
		case rememberHoldState:
			c.rememberHold(ctx, l)
		case stopMusic:
			other.musicUntilResume = false
			c.stopMusic(ctx, other)
		default:
			c.log.Error("hold: unknown command", zap.Stringer("command", cmd))
		}
	}
}
