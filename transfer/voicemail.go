package transfer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// A voicemail transfer sends the other party of a call straight to an
// extension's voicemail. A user starts one during a call by keying the
// feature code (default *8) and the extension, then hanging up or
// pressing #; or by a blind transfer (REFER) to "*8<ext>".
//
// Digits arrive one by one as ChannelDtmfReceived (the bridge raises DTMF
// events). Until the full feature code has been keyed nothing changes:
// the other party simply heard the tones. What the digits, the digit
// timer and the user's hangup mean is decided by the voicemail entry, a
// pure state machine (vmentry.go); this file executes what it asks for.

// invalidMailboxPrompt is what a user hears when the number keyed has no
// mailbox: "I'm sorry, that's not a valid extension, please try again."
const invalidMailboxPrompt = "sound:pbx-invalid"

// ErrNoSuchMailbox marks a voicemail transfer to an extension without a
// mailbox.
var ErrNoSuchMailbox = errors.New("no such mailbox")

var errNoDigits = errors.New("no mailbox number was keyed")

// onDTMF passes a digit keyed by a party of the call to the voicemail
// entry (vmentry.go). Digits of a leg that is no party of the conversation
// (a ringing target, a leg that left) are nobody's entry.
func (c *call) onDTMF(ctx context.Context, in dtmfReceived) {
	l := c.legByID(in.channelID)
	if l == nil || !l.live() || (l != c.caller && l != c.callee) {
		return
	}
	if !c.e.cfg.keysCodeInCall(l.exten) {
		// (A phone whose user transfers to voicemail by REFER only: its
		// digits are for whoever it talks to, an IVR say.)
		return
	}
	var other string
	if o := c.otherParty(l); o != nil {
		other = o.id
	}
	c.stepEntry(ctx, digitKeyed{by: party{channel: l.id, exten: l.exten}, other: other, digit: in.digit,
		talking: c.state == stateTalking})
}

// stepEntry applies one input to the call's voicemail entry, logs the
// transition (one line, the only one the entry's steps log) and executes
// the commands, in order. It reports whether the entry took the input.
func (c *call) stepEntry(ctx context.Context, in entryInput) bool {
	return machineRun[vmEntry, entryInput, entryCommand]{name: "voicemail entry", state: &c.vm, step: vmEntry.Step,
		exec: func(cmd entryCommand) entryInput { c.execEntry(ctx, cmd); return nil }}.run(c.log, in)
}

// execEntry executes one command of the voicemail entry (none has a
// result).
func (c *call) execEntry(ctx context.Context, cmd entryCommand) {
	switch cmd := cmd.(type) {
	case startDigitTimer:
		c.stopDigitTimer()
		box := c.box
		c.digitTimer = time.AfterFunc(cmd.after, func() { box.put(digitTimerFired{seq: cmd.seq}) })
	case stopDigitTimer:
		c.stopDigitTimer()
	case holdWithMusic:
		c.holdWithMusic(ctx, c.entryLeg(party{channel: cmd.channel}, true))
	case releaseHeld:
		c.releaseHeld(ctx, c.entryLeg(party{channel: cmd.channel}, true))
	case recordEntry:
		c.recordEntry(ctx, cmd.channel, cmd.value)
	case finishEntry:
		c.finishVoicemailEntry(ctx, cmd)
	default:
		c.log.Error("voicemail entry: unknown command", zap.Stringer("command", cmd))
	}
}

func (c *call) stopDigitTimer() {
	if c.digitTimer != nil {
		c.digitTimer.Stop()
		c.digitTimer = nil
	}
}

// entryLeg returns the call's leg for a party of the entry. The user of an
// adopted entry who hung up meanwhile has none: a stand-in, gone, keeps
// the user's extension (for the policy, the fallback mailbox, a recall).
func (c *call) entryLeg(p party, present bool) *leg {
	if l := c.legByID(p.channel); l != nil && p.channel != "" {
		return l
	}
	return &leg{id: p.channel, role: "callee", exten: p.exten, gone: !present}
}

// voicemailVariable keeps a voicemail transfer being keyed on the held
// party's channel in Asterisk, as "<user's extension>:<digits so far>": a
// successor that adopts the call (this transferd was killed) goes on
// collecting where it stopped, and still sends the party to the mailbox
// when the user hung up meanwhile. Empty: no entry.
const voicemailVariable = "TRANSFERD_VM"

// recordEntry writes an entry's record (none: empty) on the held party's
// channel.
func (c *call) recordEntry(ctx context.Context, held, value string) {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.SetVariable(cctx, held, voicemailVariable, value); err != nil && !isGone(err) {
		c.log.Warn("recording the voicemail entry in Asterisk failed (a successor would revert it)", zap.String("channel", held), zap.Error(err))
	}
}

// resumeVoicemailEntry takes up an entry an adopted call's held party
// carries (recorded): user, still in the call, keeps keying the mailbox
// number; a user who is gone (nil) hung up meanwhile, which completes it.
func (c *call) resumeVoicemailEntry(ctx context.Context, held, user *leg, recorded string) {
	in := entryAdopted{record: recorded, held: held.id, userPresent: user != nil}
	if user != nil {
		in.user = user.id
	}
	c.stepEntry(ctx, in)
}

// finishVoicemailEntry starts the entry's finishing (vmfinish.go) with
// the fallback mailbox the configuration gives for its user.
func (c *call) finishVoicemailEntry(ctx context.Context, f finishEntry) {
	fallback := c.e.cfg.VoicemailFallback
	if fallback == VoicemailFallbackTransferer {
		fallback = f.user.exten
	}
	c.stepFinish(ctx, finishStarted{entry: f, fallback: fallback})
}

// stepFinish applies one input to the entry's finishing and executes its
// commands.
func (c *call) stepFinish(ctx context.Context, in finishInput) {
	machineRun[vmFinish, finishInput, finishCommand]{name: "voicemail entry finish", state: &c.finish, step: vmFinish.Step,
		exec: func(cmd finishCommand) finishInput { return c.execFinish(ctx, cmd) }}.run(c.log, in)
}

// execFinish executes one command of the entry's finishing and returns
// its result, for the commands that have one.
func (c *call) execFinish(ctx context.Context, cmd finishCommand) finishInput {
	m := c.finish
	held := c.entryLeg(party{channel: m.held}, true)
	request := func(destination string) Request {
		return Request{Kind: KindVoicemail, CallID: c.id, Transferer: m.user.exten, Transferee: held.exten, Destination: destination}
	}
	switch cmd := cmd.(type) {
	case checkEntryMailbox:
		mailbox, dial, err := c.checkMailbox(ctx, request(cmd.mailbox), held)
		if err != nil {
			return entryMailboxChecked{reason: err.Error()}
		}
		return entryMailboxChecked{mailbox: mailbox, dial: dial}
	case voicemailElsewhere:
		c.transferStarted(KindVoicemail, request(cmd.mailbox))
		// (The held party is out of the bridge: it joins once the
		// voicemail answers.)
		c.stepBlind(ctx, mailboxElsewhere{transferee: cmd.held, transferer: cmd.user.exten, mailbox: cmd.mailbox,
			dial: cmd.dial, fallback: cmd.fallback, held: true})
		if c.blind.active() {
			c.state = stateTransferRinging
		}
	case reportEntry:
		c.transferEnded(KindVoicemail, request(cmd.mailbox), cmd.outcome, cmd.reason)
	case playInvalid:
		c.play(ctx, c.entryLeg(m.user, m.userPresent), invalidMailboxPrompt)
	case recordEntry:
		c.recordEntry(ctx, cmd.channel, cmd.value)
	case recallUser:
		c.transferStarted(KindVoicemail, request(cmd.destination))
		c.recallTransferer(ctx, c.entryLeg(cmd.user, m.userPresent), held, "")
	default:
		if j := c.execSharedOf(ctx, "voicemail entry finish", cmd); j != nil {
			return *j
		}
	}
	return nil
}

// checkMailbox applies the transfer policy to a voicemail destination and
// checks that the mailbox exists; it returns the mailbox to use (a policy
// may rewrite it). A mailbox another node hosts (Config.Routes) is not
// this Asterisk's to check: dial is then what reaches its voicemail.
func (c *call) checkMailbox(ctx context.Context, req Request, asker *leg) (mailbox, dial string, err error) {
	if req.Destination == "" {
		return "", "", errNoDigits
	}
	req, err = decide(ctx, c.e.policy, req)
	if err != nil {
		return "", "", err
	}
	if dial, ok := c.e.cfg.mailboxElsewhere(req.Destination); ok {
		return req.Destination, dial, nil
	}
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	ok, err := c.e.ast.MailboxExists(cctx, asker.id, req.Destination+"@"+c.e.cfg.MailboxContext)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return "", "", fmt.Errorf("mailbox %s@%s: %w", req.Destination, c.e.cfg.MailboxContext, ErrNoSuchMailbox)
	}
	return req.Destination, "", nil
}

// dialMailboxElsewhere dials the voicemail of a mailbox another node
// hosts (dial, over the trunk) for transferee, as a blind transfer's
// target: from then on the transferee is the call's caller and the
// voicemail its target. A failure is reported to the Observer.
func (c *call) dialMailboxElsewhere(ctx context.Context, transferee *leg, mailbox, dial string) (*leg, error) {
	// (No extension for the leg: it is no phone, nobody transfers to it,
	// and the transferee's display keeps showing whom it talked to.)
	target, err := c.dialLeg(ctx, "target", "", dial, transferee.id)
	if err != nil {
		err = fmt.Errorf("voicemail of %s on another node: %w: %w", mailbox, ErrUnavailable, err)
		c.transferEnded(KindVoicemail, Request{Kind: KindVoicemail, CallID: c.id, Transferee: transferee.exten, Destination: mailbox},
			OutcomeFailed, err.Error())
		return nil, err
	}
	if c.caller != transferee {
		c.caller, c.callee = transferee, c.caller
	}
	c.target = target
	c.transferRinging()
	return target, nil
}

// voicemailTransfer sends transferee to mailbox's voicemail and hangs the
// transferer up (a transfer through the API). An error (policy, no such
// mailbox) changes nothing.
func (c *call) voicemailTransfer(ctx context.Context, transferer, transferee *leg, mailbox string) error {
	req := Request{Kind: KindVoicemail, CallID: c.id, Transferer: transferer.exten, Transferee: transferee.exten, Destination: mailbox}
	log := c.log.With(zap.String("transfer", string(KindVoicemail)), zap.String("mailbox", mailbox), zap.String("transferer", transferer.id))
	mailbox, dial, err := c.checkMailbox(ctx, req, transferee)
	if err != nil {
		log.Info("voicemail transfer refused", zap.Error(err))
		c.transferEnded(KindVoicemail, req, OutcomeRefused, err.Error())
		return err
	}
	req.Destination = mailbox
	if dial != "" {
		// Another node's mailbox: its voicemail is dialled as a blind
		// transfer's target, the transferee hears ringback; should it
		// fail, the transferer is rung back, then its own mailbox.
		log.Info("voicemail transfer to another node's mailbox", zap.String("dial", dial))
		c.transferStarted(KindVoicemail, req)
		c.hangup(ctx, transferer, "normal")
		c.stepBlind(ctx, mailboxElsewhere{transferee: transferee.id, transferer: transferer.exten, mailbox: mailbox,
			dial: dial, fallback: transferer.exten})
		if c.blind.active() {
			c.state = stateTransferRinging
		}
		return nil
	}
	log.Info("voicemail transfer completed")
	c.transferEnded(KindVoicemail, req, OutcomeCompleted, "")
	c.leaveBridge(ctx, c.bridge, transferee)
	c.hangup(ctx, transferer, "normal")
	c.toVoicemail(ctx, transferee, mailbox)
	return nil
}

// holdWithMusic takes a party out of the bridge and plays it music on
// hold while the user keys a number.
func (c *call) holdWithMusic(ctx context.Context, l *leg) {
	c.leaveBridge(ctx, c.bridge, l)
	c.startMusic(ctx, l)
}

// releaseHeld brings a party held for a voicemail entry back: its music
// stops, its recorded entry goes and it rejoins the bridge (unless it is
// gone: what follows finds it so).
func (c *call) releaseHeld(ctx context.Context, held *leg) {
	c.stopMusic(ctx, held)
	c.recordEntry(ctx, held.id, "")
	if held.live() && !held.inBridge {
		c.join(ctx, held)
	}
}

// stopHoldMusic stops the music held hears once holder, who put it on
// hold, has left the call. Asterisk stops it when the holding channel
// leaves the bridge, but not always: under load, once in about 150
// attended and 3,700 blind transfers it did not (load harness: the
// transferee heard music instead of the colleague or target for the rest
// of the call), so transferd stops it too.
func (c *call) stopHoldMusic(ctx context.Context, holder, held *leg) {
	if holder.holding && held.live() {
		c.stopMusic(ctx, held)
	}
}

// startMusic plays music on hold to l and reports whether it plays.
func (c *call) startMusic(ctx context.Context, l *leg) bool {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	err := c.e.ast.StartMusic(cctx, l.id)
	if err != nil && !isGone(err) {
		c.log.Warn("music on hold failed", zap.String("channel", l.id), zap.Error(err))
	}
	return err == nil
}

// musicUntilResumed plays music on hold to l until the party holding it
// resumes (holdChanged stops it).
func (c *call) musicUntilResumed(ctx context.Context, l *leg) {
	if c.startMusic(ctx, l) {
		l.musicUntilResume = true
	}
}

func (c *call) stopMusic(ctx context.Context, l *leg) {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.StopMusic(cctx, l.id); err != nil && !isGone(err) {
		c.log.Warn("stop music on hold failed", zap.String("channel", l.id), zap.Error(err))
	}
}

func (c *call) play(ctx context.Context, l *leg, media string) {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.Play(cctx, l.id, c.newID("playback"), media); err != nil && !isGone(err) {
		c.log.Warn("playback failed", zap.String("channel", l.id), zap.String("media", media), zap.Error(err))
	}
}
