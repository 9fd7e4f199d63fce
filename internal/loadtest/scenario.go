package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/internal/sipphone"
)

// Voices of the four roles: distinct candidate tones of sipphone, so each
// phone can tell whom it hears. (A tone derived from a four-digit
// extension ending in 0 would be 300 Hz, which sipphone cannot detect.)
const (
	toneA = 400.0
	toneB = 500.0
	toneC = 600.0
	toneD = 700.0
)

// quartet is the four phones of one call scenario.
type quartet struct {
	a, b, c, d *sipphone.Phone
	// ext of each phone, to dial (and A's, to renew the phones).
	extA, extB, extC, extD string
	// on: the Asterisk each phone (A, B, C, D) registers with.
	on [4]*sandbox.Sandbox
	// cross: transferd-nodes' scenario whose transfers cross to the
	// other node (C is there); false when all four share a node.
	cross bool
}

// exts lists A's, B's, C's and D's extensions.
func (q quartet) exts() [4]string { return [4]string{q.extA, q.extB, q.extC, q.extD} }

// outcome is what one scenario measured. A zero latency means the
// transfer was not completed.
type outcome struct {
	blindTried, attendedTried bool
	blind, attended           time.Duration
	// glares counts hold re-INVITEs answered 491 and retried.
	glares int
	// step is where the scenario failed ("" when it succeeded), err why;
	// at is when that step started (to set beside the replicas' kills).
	step string
	err  error
	at   time.Time
	// cross: the quartet's transfers crossed nodes (transferd-nodes).
	cross bool
}

// scenario walks one call through a blind and an attended transfer, the
// way desk phone users do it (Tran, number, Tran; Tran, talk, Tran), and
// checks at each stage with audio that the right people talk.
type scenario struct {
	q           quartet
	stepTimeout time.Duration
	hear        time.Duration // how much of a voice counts as hearing it
}

// failAt records the first failing step and when it started.
type failAt struct {
	step    string
	err     error
	started time.Time
}

func (f *failAt) Error() string { return f.step + ": " + f.err.Error() }

// run executes the scenario; every step must finish within stepTimeout.
func (s *scenario) run(ctx context.Context) (out outcome) {
	out.cross = s.q.cross
	err := s.steps(ctx, &out)
	var fa *failAt
	if errors.As(err, &fa) {
		out.step, out.err, out.at = fa.step, fa.err, fa.started
	} else if err != nil {
		out.step, out.err, out.at = "?", err, time.Now()
	}
	return out
}

// step runs f with the step timeout and names the step in its error.
func (s *scenario) step(ctx context.Context, name string, f func(ctx context.Context) error) error {
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.stepTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		return &failAt{step: name, err: err, started: started}
	}
	return nil
}

// calls are the dialogs of a scenario as the phones see them.
type calls struct {
	a                   *sipphone.Call // A's one call, through both transfers
	bIn, cIn, cOut, dIn *sipphone.Call
}

func (s *scenario) steps(ctx context.Context, out *outcome) error {
	var c calls
	for _, phase := range []func(context.Context, *calls, *outcome) error{s.talk, s.blind, s.attended} {
		if err := phase(ctx, &c, out); err != nil {
			return err
		}
	}
	return nil
}

// talk: A calls B and they talk.
func (s *scenario) talk(ctx context.Context, c *calls, out *outcome) error {
	if err := s.step(ctx, "A calls B, B answers", func(sctx context.Context) (err error) {
		c.a, c.bIn, err = call(ctx, sctx, s.q.a, s.q.b, s.q.extB)
		return err
	}); err != nil {
		return err
	}
	return s.step(ctx, "A and B hear each other", func(sctx context.Context) error {
		return s.bothHear(sctx, c.a, toneB, c.bIn, toneA)
	})
}

// blind: B holds and blind-transfers A to C (Tran, number, Tran), hangs
// up once told it worked; C answers and talks to A.
func (s *scenario) blind(ctx context.Context, c *calls, out *outcome) error {
	if err := s.step(ctx, "B holds A", func(sctx context.Context) error { return hold(sctx, c.bIn, &out.glares) }); err != nil {
		return err
	}
	// C answers as soon as it rings, while B waits for the final NOTIFY:
	// Asterisk's own blind transfer reports 200 only once the target
	// answers (res_pjsip_refer follows the transferee's channel), transferd
	// as soon as it dials, so waiting for the NOTIFY first would never end
	// in the native configuration.
	cAnswered := s.answerLater(ctx, s.q.c)
	out.blindTried = true
	if err := s.step(ctx, "blind REFER → final NOTIFY 200", func(sctx context.Context) (err error) {
		out.blind, err = transfer(sctx, func() (*sipphone.Transfer, error) { return c.bIn.BlindTransfer(sctx, s.q.extC) })
		return err
	}); err != nil {
		return err
	}
	if err := s.step(ctx, "B hangs up after NOTIFY", c.bIn.Hangup); err != nil {
		return err
	}
	if err := s.step(ctx, "C rings, C answers", func(sctx context.Context) error {
		select {
		case r := <-cAnswered:
			c.cIn = r.c
			return r.err
		case <-sctx.Done():
			return sctx.Err()
		}
	}); err != nil {
		return err
	}
	return s.step(ctx, "A and C hear each other", func(sctx context.Context) error {
		return s.bothHear(sctx, c.a, toneC, c.cIn, toneA)
	})
}

// attended: C holds A, consults D, transfers A to D (REFER with
// Replaces) and hangs up; A and D talk until A hangs up.
func (s *scenario) attended(ctx context.Context, c *calls, out *outcome) error {
	if err := s.step(ctx, "C holds A", func(sctx context.Context) error { return hold(sctx, c.cIn, &out.glares) }); err != nil {
		return err
	}
	if err := s.step(ctx, "C calls D, D answers", func(sctx context.Context) (err error) {
		c.cOut, c.dIn, err = call(ctx, sctx, s.q.c, s.q.d, s.q.extD)
		return err
	}); err != nil {
		return err
	}
	// The consultation: C and D talk before C completes the transfer, as
	// people do. (Without it, a REFER sent within milliseconds of D's
	// answer left A hearing nothing after Asterisk's own attended transfer
	// in about one scenario in five: native_rtp bridge, no RTP towards A.)
	if err := s.step(ctx, "C and D hear each other", func(sctx context.Context) error {
		return s.bothHear(sctx, c.cOut, toneD, c.dIn, toneC)
	}); err != nil {
		return err
	}
	out.attendedTried = true
	if err := s.step(ctx, "attended REFER (Replaces) → final NOTIFY 200", func(sctx context.Context) (err error) {
		out.attended, err = transfer(sctx, func() (*sipphone.Transfer, error) { return c.cIn.AttendedTransfer(sctx, c.cOut) })
		return err
	}); err != nil {
		return err
	}
	// A desk phone hangs up its legs once told the transfer worked; with
	// transferd (ari-only) they are usually gone already.
	if err := s.step(ctx, "C hangs up its legs", func(sctx context.Context) error {
		return errors.Join(c.cIn.Hangup(sctx), c.cOut.Hangup(sctx))
	}); err != nil {
		return err
	}
	if err := s.step(ctx, "A and D hear each other", func(sctx context.Context) error {
		return s.bothHear(sctx, c.a, toneD, c.dIn, toneA)
	}); err != nil {
		return err
	}
	if err := s.step(ctx, "A hangs up", c.a.Hangup); err != nil {
		return err
	}
	return s.step(ctx, "D's call ends", c.dIn.WaitEnded)
}

// hold puts c on hold the way a desk phone does: a re-INVITE that crosses
// one from Asterisk (a connected-line update after a transfer) is answered
// 491, and the phone tries again after a random pause; the phone that did
// not start the dialog waits up to 2 s (RFC 3261 section 14.1).
func hold(ctx context.Context, c *sipphone.Call, glares *int) error {
	for {
		err := c.Hold(ctx)
		if sipphone.StatusCode(err) != 491 {
			return err
		}
		*glares++
		select {
		case <-time.After(rand.N(2 * time.Second)):
		case <-ctx.Done():
			return fmt.Errorf("%w, retrying after 491: %w", err, ctx.Err())
		}
	}
}

// call has from dial ext and to answer. dialCtx outlives the step: the
// INVITE transaction belongs to the whole scenario. A failed INVITE is
// reported as such, not as the callee never ringing.
func call(dialCtx, ctx context.Context, from, to *sipphone.Phone, ext string) (caller, callee *sipphone.Call, err error) {
	dialed := make(chan answered, 1)
	go func() {
		c, err := from.Dial(dialCtx, ext)
		dialed <- answered{c, err}
	}()
	rang := make(chan answered, 1)
	go func() {
		c, err := answer(ctx, to)
		rang <- answered{c, err}
	}()
	var in answered
	select {
	case in = <-rang:
	case out := <-dialed:
		if out.err != nil {
			return nil, nil, fmt.Errorf("caller: %w", out.err)
		}
		// Dial returns once answered, so the callee has answered too.
		in = <-rang
		return out.c, in.c, in.err
	}
	if in.err != nil {
		return nil, nil, in.err
	}
	select {
	case out := <-dialed:
		if out.err != nil {
			return nil, nil, fmt.Errorf("caller: %w", out.err)
		}
		return out.c, in.c, nil
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("caller never saw the answer: %w", ctx.Err())
	}
}

type answered struct {
	c   *sipphone.Call
	err error
}

// answerLater answers p's next call in the background, within two step
// timeouts (the REFER's and the answer's own).
func (s *scenario) answerLater(ctx context.Context, p *sipphone.Phone) <-chan answered {
	done := make(chan answered, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 2*s.stepTimeout)
		defer cancel()
		c, err := answer(ctx, p)
		done <- answered{c, err}
	}()
	return done
}

// answer waits for p to ring and picks up.
func answer(ctx context.Context, p *sipphone.Phone) (*sipphone.Call, error) {
	in, err := p.WaitIncoming(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Answer(ctx); err != nil {
		return nil, err
	}
	return in, nil
}

// transfer sends a REFER and returns the time from sending it to the final
// NOTIFY (RFC 3515 section 2.4.5), which must report 200.
func transfer(ctx context.Context, refer func() (*sipphone.Transfer, error)) (time.Duration, error) {
	start := time.Now()
	tr, err := refer()
	if err != nil {
		return 0, err
	}
	code, err := tr.WaitFinal(ctx)
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, fmt.Errorf("final NOTIFY %d, want 200", code)
	}
	return time.Since(start), nil
}

// bothHear checks, at the same time, that x hears the tone xHears and y
// hears yHears.
func (s *scenario) bothHear(ctx context.Context, x *sipphone.Call, xHears float64, y *sipphone.Call, yHears float64) error {
	errs := make(chan error, 2)
	go func() { errs <- s.hears(ctx, x, xHears) }()
	go func() { errs <- s.hears(ctx, y, yHears) }()
	return errors.Join(<-errs, <-errs)
}

// hears waits until c hears tone; on failure it says what c heard instead.
func (s *scenario) hears(ctx context.Context, c *sipphone.Call, tone float64) error {
	if err := c.WaitHearing(ctx, tone, s.hear); err != nil {
		h := c.Heard(s.hear)
		return fmt.Errorf("%w (last %s: %d packets, RMS %.0f, tone %.0f Hz)", err, s.hear, h.Packets, h.RMS, h.ToneHz)
	}
	return nil
}
