package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/transferd/transferd/internal/sipphone"
)

// officeCall is one call of the office mix on a quartet's phones: A calls
// B and they talk for the call's duration, then A hangs up. A call chosen
// for a transfer is transferred by B a third of the way in: blind or
// attended to C, or A to C's mailbox (star8). D stays idle. The ramp's
// scenario lends the phones, the step timeout and the audio checks.
type officeCall struct {
	scenario
	kind         string // "" (not transferred), kindBlind, kindAttended or kindStar8
	duration     time.Duration
	star8ByREFER bool                    // Tran, *8<mailbox> (a REFER) instead of *8<mailbox> keyed in the call
	inbox        func(ext string) string // a mailbox's INBOX directory (sandbox.VoicemailInbox)
	messages     int                     // in C's mailbox before a star8 transfer
}

// officeOutcome is what one call of the office mix did.
type officeOutcome struct {
	kind            string    // the transfer it was chosen for, "" for none
	answered, ended time.Time // A's call: answered (zero if never) and hung up
	// transferAt is when B began the transfer (zero if it did not);
	// transferOK: it worked (A and C heard each other; star8: A heard
	// music or the greeting with B gone, and left a message by the end of
	// the call); transferFailed: it did not.
	transferAt                 time.Time
	transferOK, transferFailed bool
	glares                     int // hold re-INVITEs answered 491 and retried
	// interrupted: the level ended during the call, which neither
	// succeeded nor failed.
	interrupted bool
	// step is where the call failed ("" when it did not), err why, at
	// when that step began.
	step string
	err  error
	at   time.Time
}

// transferAfter places a transfer a third of the way into the call: the
// new parties then talk for the rest of it, as most of a transferred
// call's time is after the transfer.
const transferAfter = 3

func (c *officeCall) run(ctx context.Context) officeOutcome {
	out := officeOutcome{kind: c.kind}
	err := c.steps(ctx, &out)
	if !out.answered.IsZero() && out.ended.IsZero() {
		out.ended = time.Now()
	}
	var fa *failAt
	switch {
	case err == nil:
	case ctx.Err() != nil:
		out.interrupted = true
	case errors.As(err, &fa):
		out.step, out.err, out.at = fa.step, fa.err, fa.started
	default:
		out.step, out.err, out.at = "?", err, time.Now()
	}
	if out.step != "" && !out.transferAt.IsZero() && !out.transferOK {
		out.transferFailed = true
	}
	return out
}

func (c *officeCall) steps(ctx context.Context, out *officeOutcome) error {
	var cl calls
	if err := c.step(ctx, "A calls B, B answers", func(sctx context.Context) (err error) {
		cl.a, cl.bIn, err = call(ctx, sctx, c.q.a, c.q.b, c.q.extB)
		return err
	}); err != nil {
		return err
	}
	out.answered = time.Now()
	if err := c.step(ctx, "A and B hear each other", func(sctx context.Context) error {
		return c.bothHear(sctx, cl.a, toneB, cl.bIn, toneA)
	}); err != nil {
		return err
	}
	party := cl.bIn // whom A talks to at the end; nil in voicemail
	if c.kind != "" {
		if err := c.lasts(ctx, cl.a, out.answered.Add(c.duration/transferAfter)); err != nil {
			return err
		}
		out.transferAt = time.Now()
		var err error
		if party, err = c.transfer(ctx, &cl, out); err != nil {
			return err
		}
		out.transferOK = true
	}
	if err := c.lasts(ctx, cl.a, out.answered.Add(c.duration)); err != nil {
		return err
	}
	out.ended = time.Now()
	if err := c.step(ctx, "A hangs up", cl.a.Hangup); err != nil {
		return err
	}
	if party == nil {
		// A transfer to voicemail failed after all if A left no
		// message. It counts as worked when the level's end interrupts
		// the call before this check: else, with transfers a third of
		// the way into calls as long as the window, only those begun in
		// the window's first third would count.
		err := c.step(ctx, "A's message is in C's mailbox", c.messageLeft)
		out.transferOK = err == nil
		return err
	}
	return c.step(ctx, "the other party's call ends", party.WaitEnded)
}

// lasts waits until t while A's call stays up: a call that ends before
// its time was dropped. It returns ctx's error when the level ends first.
func (c *officeCall) lasts(ctx context.Context, a *sipphone.Call, t time.Time) error {
	started := time.Now()
	wctx, cancel := context.WithDeadline(ctx, t)
	defer cancel()
	if err := a.WaitEnded(wctx); err != nil {
		return ctx.Err() // nil: t came with the call up
	}
	return &failAt{step: "the call lasts its time", started: started,
		err: fmt.Errorf("A's call ended (%s) %s early", a.EndedBy(), time.Until(t).Round(time.Millisecond))}
}

// transfer has B transfer A as the call's kind says and returns whom A
// talks to afterwards (nil: C's voicemail).
func (c *officeCall) transfer(ctx context.Context, cl *calls, out *officeOutcome) (*sipphone.Call, error) {
	switch {
	case c.kind == kindBlind:
		// The ramp's blind transfer has the same roles: B holds A,
		// REFERs A to C and hangs up, C answers, A and C hear each other.
		var o outcome
		err := c.blind(ctx, cl, &o)
		out.glares += o.glares
		return cl.cIn, err
	case c.kind == kindAttended:
		return c.attendedToC(ctx, cl, out)
	case c.star8ByREFER:
		return nil, c.voicemailByREFER(ctx, cl, out)
	default:
		return nil, c.voicemailByDTMF(ctx, cl)
	}
}

// attendedToC: B holds A, consults C, transfers A to C (REFER with
// Replaces, RFC 3891) and hangs up; A and C hear each other.
func (c *officeCall) attendedToC(ctx context.Context, cl *calls, out *officeOutcome) (*sipphone.Call, error) {
	if err := c.step(ctx, "B holds A", func(sctx context.Context) error { return hold(sctx, cl.bIn, &out.glares) }); err != nil {
		return nil, err
	}
	var consult, cIn *sipphone.Call
	if err := c.step(ctx, "B calls C, C answers", func(sctx context.Context) (err error) {
		consult, cIn, err = call(ctx, sctx, c.q.b, c.q.c, c.q.extC)
		return err
	}); err != nil {
		return nil, err
	}
	// B and C talk before B completes the transfer, as people do (and
	// see scenario.attended for what a REFER right after the answer did).
	if err := c.step(ctx, "B and C hear each other", func(sctx context.Context) error {
		return c.bothHear(sctx, consult, toneC, cIn, toneB)
	}); err != nil {
		return nil, err
	}
	if err := c.step(ctx, "attended REFER (Replaces) → final NOTIFY 200", func(sctx context.Context) error {
		_, err := transfer(sctx, func() (*sipphone.Transfer, error) { return cl.bIn.AttendedTransfer(sctx, consult) })
		return err
	}); err != nil {
		return nil, err
	}
	if err := c.step(ctx, "B hangs up its legs", func(sctx context.Context) error {
		return errors.Join(cl.bIn.Hangup(sctx), consult.Hangup(sctx))
	}); err != nil {
		return nil, err
	}
	return cIn, c.step(ctx, "A and C hear each other", func(sctx context.Context) error {
		return c.bothHear(sctx, cl.a, toneC, cIn, toneA)
	})
}

// voicemailByDTMF: B keys *8 and C's extension during the call (RFC 4733
// events; transferd holds A meanwhile) and hangs up, which sends A to
// that mailbox.
func (c *officeCall) voicemailByDTMF(ctx context.Context, cl *calls) error {
	c.messages = c.countMessages()
	if err := c.step(ctx, "B keys *8 and C's mailbox", func(sctx context.Context) error {
		return cl.bIn.SendDTMF(sctx, "*8"+c.q.extC)
	}); err != nil {
		return err
	}
	if err := c.step(ctx, "A hears music while B keys", func(sctx context.Context) error { return c.hearsMusic(sctx, cl.a) }); err != nil {
		return err
	}
	return c.step(ctx, "B hangs up after keying", cl.bIn.Hangup)
}

// voicemailByREFER: B holds A and sends a blind REFER to *8 and C's
// extension (Tran, *8<mailbox>, Tran), then hangs up; A hears the
// mailbox's greeting.
func (c *officeCall) voicemailByREFER(ctx context.Context, cl *calls, out *officeOutcome) error {
	c.messages = c.countMessages()
	if err := c.step(ctx, "B holds A", func(sctx context.Context) error { return hold(sctx, cl.bIn, &out.glares) }); err != nil {
		return err
	}
	if err := c.step(ctx, "REFER to *8<mailbox> → final NOTIFY 200", func(sctx context.Context) error {
		_, err := transfer(sctx, func() (*sipphone.Transfer, error) { return cl.bIn.BlindTransfer(sctx, "*8"+c.q.extC) })
		return err
	}); err != nil {
		return err
	}
	if err := c.step(ctx, "B hangs up after NOTIFY", cl.bIn.Hangup); err != nil {
		return err
	}
	return c.step(ctx, "A hears the voicemail greeting", func(sctx context.Context) error { return c.hearsMusic(sctx, cl.a) })
}

// hearsMusic waits until x hears sound that is no phone's voice (music on
// hold, a prompt); on failure it says what x heard instead.
func (c *officeCall) hearsMusic(ctx context.Context, x *sipphone.Call) error {
	if err := x.WaitMusic(ctx, c.hear); err != nil {
		h := x.Heard(c.hear)
		return fmt.Errorf("%w (last %s: %d packets, RMS %.0f, tone %.0f Hz)", err, c.hear, h.Packets, h.RMS, h.ToneHz)
	}
	return nil
}

// countMessages counts the messages in C's voicemail INBOX (app_voicemail
// writes msgNNNN.txt beside each recording).
func (c *officeCall) countMessages() int {
	files, _ := filepath.Glob(filepath.Join(c.inbox(c.q.extC), "msg*.txt"))
	return len(files)
}

// messageLeft waits until C's mailbox holds one message more than before
// the transfer: A reached it and was recorded until it hung up.
func (c *officeCall) messageLeft(ctx context.Context) error {
	for {
		n := c.countMessages()
		if n > c.messages {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d messages in %s's mailbox, as before the transfer: %w", n, c.q.extC, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
