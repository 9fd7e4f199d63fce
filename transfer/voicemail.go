package transfer

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
// the other party simply heard the tones.

// invalidMailboxPrompt is what a user hears when the number keyed has no
// mailbox: "I'm sorry, that's not a valid extension, please try again."
const invalidMailboxPrompt = "sound:pbx-invalid"

// ErrNoSuchMailbox marks a voicemail transfer to an extension without a
// mailbox.
var ErrNoSuchMailbox = errors.New("no such mailbox")

var errNoDigits = errors.New("no mailbox number was keyed")

// voicemailEntry is the feature code being keyed, then the mailbox number.
type voicemailEntry struct {
	user       *leg // who keys
	held       *leg // the party to be sent to voicemail
	matched    int  // digits of the feature code matched so far
	collecting bool // the feature code is complete; digits are the mailbox
	digits     string
	timer      *time.Timer
	timerSeq   int
}

// timerFired: a timer the call set has expired. seq tells a current timer
// from one that was replaced.
type timerFired struct{ seq int }

func (timerFired) inputName() string { return "timer" }

// onDTMF follows the feature code and the mailbox number keyed in a call.
func (c *call) onDTMF(ctx context.Context, in dtmfReceived) {
	l := c.legByID(in.channelID)
	if c.state != stateTalking || l == nil || !l.live() || (l != c.caller && l != c.callee) {
		return
	}
	code := c.e.cfg.VoicemailCode
	v := c.vm
	switch {
	case v == nil:
		if in.digit == code[:1] {
			c.vm = &voicemailEntry{user: l, held: c.otherParty(l), matched: 1}
			c.afterCode(ctx)
		}
	case v.user != l:
		// The other party keys digits while the user keys the code: the
		// user's sequence is not disturbed.
	case !v.collecting:
		if in.digit != code[v.matched:v.matched+1] {
			c.log.Debug("feature code abandoned", zap.String("digit", in.digit))
			c.cancelVoicemailEntry()
			// The digit may start a new code (e.g. "**8").
			c.onDTMF(ctx, in)
			return
		}
		v.matched++
		c.afterCode(ctx)
	case in.digit == "#":
		c.finishVoicemailEntry(ctx, true)
	case in.digit >= "0" && in.digit <= "9":
		v.digits += in.digit
		c.recordVoicemailEntry(ctx, v.held)
		c.startTimer(c.e.cfg.DigitTimeout)
	}
}

// voicemailVariable keeps a voicemail transfer being keyed on the held
// party's channel in Asterisk, as "<user's extension>:<digits so far>": a
// successor that adopts the call (this transferd was killed) goes on
// collecting where it stopped, and still sends the party to the mailbox
// when the user hung up meanwhile. Empty: no entry.
const voicemailVariable = "TRANSFERD_VM"

// recordVoicemailEntry writes the call's entry (none: empty) on held.
func (c *call) recordVoicemailEntry(ctx context.Context, held *leg) {
	value := ""
	if v := c.vm; v != nil && v.collecting {
		value = v.user.exten + ":" + v.digits
	}
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.SetVariable(cctx, held.id, voicemailVariable, value); err != nil && !isGone(err) {
		c.log.Warn("recording the voicemail entry in Asterisk failed (a successor would revert it)", zap.String("channel", held.id), zap.Error(err))
	}
}

// resumeVoicemailEntry takes up an entry an adopted call's held party
// carries (recorded): user, still in the call, keeps keying the mailbox
// number; a user who is gone (nil) hung up meanwhile, which completes it.
func (c *call) resumeVoicemailEntry(ctx context.Context, held, user *leg, recorded string) {
	userExten, digits, _ := strings.Cut(recorded, ":")
	present := user != nil
	if !present {
		user = &leg{id: "", role: "callee", exten: userExten, gone: true}
	}
	c.vm = &voicemailEntry{user: user, held: held, matched: len(c.e.cfg.VoicemailCode), collecting: true, digits: digits}
	c.log.Info("voicemail transfer: adopted while the mailbox number was keyed", zap.String("transfer", string(KindVoicemail)),
		zap.String("digits", digits), zap.Bool("user_present", present))
	if present {
		c.startTimer(c.e.cfg.DigitTimeout)
		return
	}
	c.finishVoicemailEntry(ctx, false)
}

// afterCode starts collecting once the whole feature code was keyed, and
// (re)arms the inter-digit timer.
func (c *call) afterCode(ctx context.Context) {
	v := c.vm
	if v.matched == len(c.e.cfg.VoicemailCode) {
		v.collecting = true
		c.log.Info("voicemail transfer: collecting the mailbox number", zap.String("transfer", string(KindVoicemail)),
			zap.String("user", v.user.id), zap.String("held", v.held.id))
		c.holdWithMusic(ctx, v.held)
		c.recordVoicemailEntry(ctx, v.held)
	}
	c.startTimer(c.e.cfg.DigitTimeout)
}

func (c *call) startTimer(d time.Duration) {
	v := c.vm
	if v.timer != nil {
		v.timer.Stop()
	}
	v.timerSeq++
	seq, box := v.timerSeq, c.box
	v.timer = time.AfterFunc(d, func() { box.put(timerFired{seq: seq}) })
}

func (c *call) onTimer(ctx context.Context, in timerFired) {
	v := c.vm
	if v == nil || in.seq != v.timerSeq {
		return // a timer that was replaced or cancelled
	}
	if !v.collecting {
		c.cancelVoicemailEntry() // a lone "*": just a tone
		return
	}
	// The number is complete (or nothing was keyed): act as on "#".
	c.finishVoicemailEntry(ctx, true)
}

func (c *call) cancelVoicemailEntry() {
	if c.vm != nil && c.vm.timer != nil {
		c.vm.timer.Stop()
	}
	c.vm = nil
}

// finishVoicemailEntry sends the held party to the keyed mailbox. With an
// invalid or empty number, a user still on the line hears so and the call
// resumes; a user who hung up has the party sent to the fallback mailbox.
func (c *call) finishVoicemailEntry(ctx context.Context, userPresent bool) {
	v := c.vm
	c.cancelVoicemailEntry()
	log := c.log.With(zap.String("transfer", string(KindVoicemail)), zap.String("mailbox", v.digits),
		zap.String("user", v.user.id), zap.Bool("user_present", userPresent))
	req := Request{Kind: KindVoicemail, CallID: c.id, Transferer: v.user.exten, Transferee: v.held.exten, Destination: v.digits}
	mailbox, err := c.checkMailbox(ctx, req, v.held)
	if err == nil {
		log.Info("voicemail transfer completed")
		req.Destination = mailbox
		c.transferEnded(KindVoicemail, req, OutcomeCompleted, "")
		c.stopMusic(ctx, v.held)
		if userPresent {
			c.hangup(ctx, v.user, "normal")
		}
		c.toVoicemail(ctx, v.held, mailbox)
		return
	}
	if userPresent {
		log.Info("voicemail transfer refused; call resumes", zap.Error(err))
		c.transferEnded(KindVoicemail, req, OutcomeRefused, err.Error())
		c.play(ctx, v.user, invalidMailboxPrompt)
		c.stopMusic(ctx, v.held)
		c.recordVoicemailEntry(ctx, v.held)
		if !c.join(ctx, v.held) {
			c.end(ctx)
		}
		return
	}
	fallback := c.e.cfg.VoicemailFallback
	if fallback == VoicemailFallbackTransferer {
		fallback = v.user.exten
	}
	log.Info("voicemail transfer to an invalid mailbox after the user hung up; using the fallback",
		zap.Error(err), zap.String("fallback", fallback))
	req.Destination = fallback
	c.stopMusic(ctx, v.held)
	if mailbox, ferr := c.checkMailbox(ctx, req, v.held); ferr == nil {
		c.transferEnded(KindVoicemail, req, OutcomeVoicemail, "fallback mailbox "+mailbox+": "+err.Error())
		c.toVoicemail(ctx, v.held, mailbox)
		return
	}
	// No usable mailbox at all: ring the user back rather than drop the
	// caller.
	log.Warn("fallback mailbox does not exist either; ringing the user back", zap.String("fallback", fallback))
	c.recordVoicemailEntry(ctx, v.held)
	c.caller, c.callee = v.held, v.user
	c.blind = &blindTransfer{transferer: v.user.exten}
	c.transferStarted(KindVoicemail, req)
	if err := c.recall(ctx); err != nil {
		log.Error("recall failed; the call ends", zap.Error(err))
		c.end(ctx)
		return
	}
	c.state = stateTransferRinging
}

// checkMailbox applies the transfer policy to a voicemail destination and
// checks that the mailbox exists; it returns the mailbox to use (a policy
// may rewrite it).
func (c *call) checkMailbox(ctx context.Context, req Request, asker *leg) (string, error) {
	if req.Destination == "" {
		return "", errNoDigits
	}
	req, err := decide(ctx, c.e.policy, req)
	if err != nil {
		return "", err
	}
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	ok, err := c.e.ast.MailboxExists(cctx, asker.id, req.Destination+"@"+c.e.cfg.MailboxContext)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("mailbox %s@%s: %w", req.Destination, c.e.cfg.MailboxContext, ErrNoSuchMailbox)
	}
	return req.Destination, nil
}

// voicemailByRefer handles a blind transfer to the feature code and an
// extension ("*8103"): the transferee goes to that voicemail.
func (c *call) voicemailByRefer(ctx context.Context, transferer, transferee *leg, mailbox string) {
	if err := c.voicemailTransfer(ctx, transferer, transferee, mailbox, true); err != nil {
		c.progress(ctx, transferer.id, progressDeclined)
	}
}

// voicemailTransfer sends transferee to mailbox's voicemail and hangs the
// transferer up. byRefer: the transferer's phone asked with a REFER, is
// told it worked and ends its call itself (letPhoneHangUp). An error
// (policy, no such mailbox) changes nothing.
func (c *call) voicemailTransfer(ctx context.Context, transferer, transferee *leg, mailbox string, byRefer bool) error {
	req := Request{Kind: KindVoicemail, CallID: c.id, Transferer: transferer.exten, Transferee: transferee.exten, Destination: mailbox}
	log := c.log.With(zap.String("transfer", string(KindVoicemail)), zap.String("mailbox", mailbox), zap.String("transferer", transferer.id))
	mailbox, err := c.checkMailbox(ctx, req, transferee)
	if err != nil {
		log.Info("voicemail transfer refused", zap.Error(err))
		c.transferEnded(KindVoicemail, req, OutcomeRefused, err.Error())
		return err
	}
	req.Destination = mailbox
	log.Info("voicemail transfer completed")
	c.transferEnded(KindVoicemail, req, OutcomeCompleted, "")
	c.leaveBridge(ctx, c.bridge, transferee)
	if byRefer {
		c.progress(ctx, transferer.id, progressAnswered)
		c.letPhoneHangUp(ctx, transferer)
	} else {
		c.hangup(ctx, transferer, "normal")
	}
	c.toVoicemail(ctx, transferee, mailbox)
	return nil
}

// holdWithMusic takes a party out of the bridge and plays it music on
// hold while the user keys a number.
func (c *call) holdWithMusic(ctx context.Context, l *leg) {
	c.leaveBridge(ctx, c.bridge, l)
	c.startMusic(ctx, l)
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

// voicemailDestination returns the mailbox of a transfer destination that
// starts with the feature code ("*8103" → "103").
func (c *call) voicemailDestination(dest string) (string, bool) {
	return strings.CutPrefix(dest, c.e.cfg.VoicemailCode)
}
