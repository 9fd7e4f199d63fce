package main

// End-to-end tests of REFERs that real phones, SBCs and broken or hostile
// clients send and that once took Asterisk down (asterisk#2021), or might:
// each must leave the call talking (or transferred) and Asterisk up, on
// whichever Asterisk 22 the sandbox runs (TRANSFERD_ASTERISK).

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/sipphone"
	"github.com/transferd/transferd/transfer"
)

// asteriskUp checks that the sandbox's Asterisk is the process it was
// (pid) and still answers its console: no crash, no restart.
func (b *bed) asteriskUp(pid int) {
	b.t.Helper()
	if now := b.sb.PID(); now != pid {
		b.t.Fatalf("Asterisk is not up any more (pid %d, now %d); log:\n%s", pid, now, b.sb.LogTail(30))
	}
	if _, err := b.sb.CLI(b.ctx, "core show uptime"); err != nil {
		b.t.Fatalf("Asterisk does not answer: %v; log:\n%s", err, b.sb.LogTail(30))
	}
}

// Given the default transfer handling (auto), when transferd connects,
// then it chooses ari-only on an Asterisk without the Refer-Sub crash and
// core on one with it, and says so on /readyz.
func TestAutoHandlingFollowsTheAsteriskVersion(t *testing.T) {
	b := newBed(t, nil)
	version := b.sb.Installed.AsteriskVersion()
	if !slices.Contains(testedAsterisk, version) {
		t.Errorf("the sandbox runs Asterisk %s, which transferd version does not list as tested (testedAsterisk: %v)", version, testedAsterisk)
	}
	want := transfer.DecideHandling(transfer.HandlingAuto, version, nil)
	b.waitReady()
	code, body := b.get("/readyz")
	if code != http.StatusOK || !strings.Contains(body, "transfer handling "+want.Mode+" (configured auto)") {
		t.Fatalf("/readyz = %d %q, want 200 naming handling %s for Asterisk %s", code, body, want.Mode, version)
	}
	if want.Mode == transfer.HandlingCore && !strings.Contains(body, "asterisk#2021") {
		t.Errorf("/readyz does not say why core handling: %q", body)
	}
	t.Logf("Asterisk %s: %s", version, strings.TrimSpace(body))
	_, metrics := b.get("/metrics")
	// (The label is what Asterisk reports: Debian's package version.)
	got := grepLines(metrics, "transferd_transfer_handling{")
	if !strings.HasPrefix(got, `transferd_transfer_handling{asterisk="`+version) ||
		!strings.HasSuffix(got, `",configured="auto",mode="`+want.Mode+`",node="pbx"} 1`) {
		t.Errorf("/metrics: %q, want transferd_transfer_handling for Asterisk %s, auto, %s", got, version, want.Mode)
	}
}

// Given a call and the default handling, when the callee's phone sends a
// blind REFER with "Refer-Sub: false" (RFC 4488) and hangs up, then the
// caller reaches the target and Asterisk stays up: on 22.10.1 auto chose
// core handling (ari-only crashes there, asterisk#2021), on 22.11 ari-only.
func TestBlindReferWithoutSubscriptionTransfersAndAsteriskStaysUp(t *testing.T) {
	b := newBed(t, nil, "101", "102", "103")
	pid := b.sb.PID()
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	if err := c.Hold(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.hearsMusic("101 (held)", a)
	tr, err := c.BlindTransfer(b.ctx, "103", sipphone.WithoutReferSub())
	if err != nil {
		t.Fatalf("102 REFER (Refer-Sub: false) to 103: %v", err)
	}
	if !tr.NoNotify {
		// Asterisk may still notify; then the phone waits for it.
		b.told(tr, 200)
	}
	c.Hangup(b.ctx) // it asked for no NOTIFY: it hangs up after the 202
	target := b.rings("103")
	b.hearsRingback("101 (ringback while 103 rings)", a)
	if err := target.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.asteriskUp(pid)
	b.talkThenHangUp("101", a, "103", target)
	b.asteriskUp(pid)
}

// Given a talking call, when the phone sends a REFER that is broken, then
// Asterisk stays up and the two people go on talking: the REFER is refused
// (4xx), or accepted and then reported failed (a NOTIFY of 300 or more).
func TestMalformedREFERsLeaveTheCallTalking(t *testing.T) {
	inEachMode(t, testMalformedREFERsLeaveTheCallTalking)
}

func testMalformedREFERsLeaveTheCallTalking(t *testing.T, mode string) {
	for _, tt := range []struct {
		name    string
		headers []string // of a REFER sent on 102's call with 101, as they are
	}{
		{"without Refer-To", []string{"Referred-By: <sip:102@127.0.0.1>"}},
		{"Refer-To garbage", []string{"Refer-To: <<<@@@;;;>"}},
		{"Refer-To not SIP", []string{"Refer-To: <mailto:someone@example.com>"}},
		{"Refer-To without user", []string{"Refer-To: <sip:@127.0.0.1>"}},
		{"Replaces naming no dialog", []string{"Refer-To: <sip:103@127.0.0.1?Replaces=" +
			url.QueryEscape("nosuchcall@x;to-tag=a;from-tag=b") + ">"}},
		{"Replaces garbage", []string{"Refer-To: <sip:103@127.0.0.1?Replaces=%%%;;>"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed(t, inMode(mode, nil), "101", "102")
			pid := b.sb.PID()
			a, c := b.call("101", "102")
			b.hears("101", a, "102")
			status, err := c.SendRefer(b.ctx, tt.headers...)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("REFER %s: Asterisk answered %d", tt.name, status)
			switch {
			case status >= 200 && status < 300:
				b.toldFailure(c)
			case status < 400:
				t.Fatalf("REFER %s answered %d, want a 4xx or a 2xx and a failure", tt.name, status)
			}
			b.asteriskUp(pid)
			b.keepTalkingThenHangUp("101", a, "102", c)
			b.asteriskUp(pid)
		})
	}
}

// endsOrRingsBack waits until c's call ends or ext's phone rings (a
// recall), and returns the ringing call in the second case.
func (b *bed) endsOrRingsBack(c *sipphone.Call, ext string) *sipphone.Call {
	b.t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	ended, rings := make(chan error, 1), make(chan *sipphone.Call, 1)
	go func() { ended <- c.WaitEnded(ctx) }()
	go func() {
		if in, err := b.phones[ext].WaitIncoming(ctx); err == nil {
			rings <- in
		}
	}()
	select {
	case err := <-ended:
		if err != nil {
			b.t.Fatalf("the transfer was reported done but the caller's call neither ends nor comes back to %s: %v", ext, err)
		}
		return nil
	case in := <-rings:
		b.t.Logf("%s is rung back with the caller", ext)
		return in
	}
}

// Given a consultation, when the colleague hangs up and the transferer's
// phone sends its REFER with Replaces in the same instant (naming a dialog
// that just ended), then Asterisk stays up, the phone is told the
// transfer failed and the caller is still there for the transferer.
func TestReplacesNamingADialogThatJustEnded(t *testing.T) {
	inEachMode(t, testReplacesNamingADialogThatJustEnded)
}

func testReplacesNamingADialogThatJustEnded(t *testing.T, mode string) {
	b := newBed(t, inMode(mode, nil), "101", "102", "103")
	pid := b.sb.PID()
	a, first, second, colleague := b.consult(true)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); colleague.incoming.Hangup(b.ctx) }()
	tr, err := first.AttendedTransfer(b.ctx, second)
	wg.Wait()
	if err == nil {
		code, werr := tr.WaitFinal(b.ctx)
		t.Logf("REFER with Replaces: NOTIFY %d (%v)", code, werr)
		if werr != nil {
			t.Fatal(werr)
		}
		if code == 200 {
			// Asterisk took the REFER in before the BYE, and the phone
			// hangs up its held call as told. Either 101 reached 103 in
			// the instant 103 hung up, so 101's call ends; or (core
			// handling) Asterisk linked the calls and transferd found the
			// consultation gone: the caller is not dropped, 102 is rung
			// back with it.
			first.Hangup(b.ctx)
			if back := b.endsOrRingsBack(a, "102"); back != nil {
				if err := back.Answer(b.ctx); err != nil {
					t.Fatal(err)
				}
				b.talkThenHangUp("101", a, "102", back)
			}
			b.asteriskUp(pid)
			return
		}
	} else {
		t.Logf("REFER with Replaces refused: %v", err)
	}
	second.WaitEnded(b.ctx)
	b.asteriskUp(pid)
	time.Sleep(time.Second) // (fresh audio: see keepTalkingThenHangUp)
	b.hearsMusic("101 (still held)", a)
	if err := first.Unhold(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.keepTalkingThenHangUp("101", a, "102", first)
	b.asteriskUp(pid)
}

// toldFailure waits for the final NOTIFY of a REFER c's phone sent (not
// through Transfer) and checks that it reports a failure.
func (b *bed) toldFailure(c *sipphone.Call) {
	b.t.Helper()
	if code, err := c.WaitNotify(b.ctx); err != nil || code < 300 {
		b.t.Fatalf("the phone is told %d (%v) about a broken REFER, want a failure", code, err)
	}
}

// keepTalkingThenHangUp is talkThenHangUp on fresh audio: the last second
// checked starts after this call, so what was heard before a REFER does
// not count.
func (b *bed) keepTalkingThenHangUp(firstExt string, first *sipphone.Call, secondExt string, second *sipphone.Call) {
	b.t.Helper()
	time.Sleep(time.Second)
	b.talkThenHangUp(firstExt, first, secondExt, second)
}

// Given a call on hold, when the phone sends two blind REFERs at once, or
// a REFER while its own re-INVITE is in progress, then Asterisk stays up
// and the caller ends up with the target (once) or, when the REFER was
// refused, back with the transferer: never alone.
func TestConcurrentREFERsLeaveAsteriskUp(t *testing.T) {
	inEachMode(t, testConcurrentREFERsLeaveAsteriskUp)
}

func testConcurrentREFERsLeaveAsteriskUp(t *testing.T, mode string) {
	for _, tt := range []struct {
		name   string
		second func(b *bed, c *sipphone.Call) error
	}{
		{"two REFERs at once", func(b *bed, c *sipphone.Call) error {
			_, err := c.BlindTransfer(b.ctx, "103")
			return err
		}},
		{"REFER during a re-INVITE", func(b *bed, c *sipphone.Call) error { return c.Hold(b.ctx) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed(t, inMode(mode, nil), "101", "102", "103")
			pid := b.sb.PID()
			a, c := b.call("101", "102")
			b.hears("101", a, "102")
			if err := c.Hold(b.ctx); err != nil {
				t.Fatal(err)
			}
			b.hearsMusic("101 (held)", a)
			var wg sync.WaitGroup
			var referErr, secondErr error
			var tr *sipphone.Transfer
			wg.Add(2)
			go func() { defer wg.Done(); tr, referErr = c.BlindTransfer(b.ctx, "103") }()
			go func() { defer wg.Done(); secondErr = tt.second(b, c) }()
			wg.Wait()
			t.Logf("REFER: %v; second request: %v", referErr, secondErr)
			b.asteriskUp(pid)
			twoREFERs := strings.Contains(tt.name, "two REFERs")
			if referErr != nil && (!twoREFERs || secondErr != nil) {
				// Refused (Asterisk answers a REFER that crosses the
				// re-INVITE "500 Invalid CSeq"): nothing moved; the
				// transferer resumes the caller.
				if err := c.Unhold(b.ctx); err != nil {
					t.Fatal(err)
				}
				b.keepTalkingThenHangUp("101", a, "102", c)
				b.asteriskUp(pid)
				return
			}
			if tr != nil && !tr.NoNotify {
				if code, err := tr.WaitFinal(b.ctx); err != nil {
					t.Logf("no final NOTIFY for the first REFER: %v (code %d)", err, code)
				}
			}
			c.Hangup(b.ctx)
			// Exactly one transfer happens: 103 rings once, talks to 101.
			target := b.rings("103")
			if err := target.Answer(b.ctx); err != nil {
				t.Fatal(err)
			}
			if extra := b.ringsWithin("103", 2*time.Second); extra != nil {
				t.Errorf("103 rang a second time")
				extra.Hangup(b.ctx)
			}
			b.talkThenHangUp("101", a, "103", target)
			b.asteriskUp(pid)
		})
	}
}

// ringsWithin returns ext's next incoming call if one arrives within d,
// else nil.
func (b *bed) ringsWithin(ext string, d time.Duration) *sipphone.Call {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	in, err := b.phones[ext].WaitIncoming(ctx)
	if err != nil {
		return nil
	}
	return in
}
