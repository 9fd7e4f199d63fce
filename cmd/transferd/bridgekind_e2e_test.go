package main

import (
	"testing"
	"time"

	"github.com/transferd/transferd/internal/sipphone"
)

// Phones whose users never key the voicemail code during a call
// (voicemail.refer_only_extensions) talk over a bridge Asterisk bridges
// natively; a transfer that brings in a phone that keys the code moves the
// call into a bridge that hears it.

// bridgedBy waits until a bridge with two channels (the test's one call)
// uses technology (native_rtp, simple_bridge).
func (b *bed) bridgedBy(technology string) {
	b.t.Helper()
	var last string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		bridges, err := b.sb.Bridges(b.ctx)
		if err != nil {
			b.t.Fatal(err)
		}
		last = ""
		for _, br := range bridges {
			if len(br.Channels) == 2 {
				last += br.Technology + " "
				if br.Technology == technology {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("the call's bridge uses %q, want %s", last, technology)
}

func TestReferOnlyPhonesTalkOverANativeBridge(t *testing.T) {
	inEachMode(t, testReferOnlyPhonesTalkOverANativeBridge)
}

func testReferOnlyPhonesTalkOverANativeBridge(t *testing.T, mode string) {
	b := newBed(t, inMode(mode, func(c *Config) { c.Voicemail.ReferOnlyExtensions = "^10[12]$" }), "101", "102", "103")
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.hears("102", c, "101")
	b.bridgedBy("native_rtp")

	// 102 keys the code: a refer-only phone's digits are not a transfer.
	if err := c.SendDTMF(b.ctx, "*8103"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	b.hears("101 (after 102 keyed *8103)", a, "102")

	// Tran to 103, who keys the code during calls: the call moves into a
	// bridge that hears DTMF, and 103's *8102 works.
	tr := b.blindTransferOn(a, c, "103")
	b.toldThenHangsUp(tr, c)
	in := b.rings("103")
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.hears("101", a, "103")
	b.hears("103", in, "101")
	b.bridgedBy("simple_bridge")
	b.keysVoicemailCode(a, in, "*8102")
	b.leavesMessage(a, "102", 4*time.Second)
}

// keysVoicemailCode has user key the code and a mailbox (the caller, held,
// hears music), then hang up.
func (b *bed) keysVoicemailCode(caller, user *sipphone.Call, digits string) {
	b.t.Helper()
	if err := user.SendDTMF(b.ctx, digits); err != nil {
		b.t.Fatal(err)
	}
	b.hearsMusic("101 (held while the mailbox is keyed)", caller)
	user.Hangup(b.ctx)
}

// Phones that send DTMF as SIP INFO key the code during calls over a
// native bridge: Asterisk reports INFO digits whatever the bridge.
func TestInfoDTMFPhonesKeyTheCodeOverANativeBridge(t *testing.T) {
	b := newBed(t, inMode("ari-only", func(c *Config) { c.Voicemail.InfoDTMFExtensions = "^10[12]$" }), "101", "102", "103")
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.hears("102", c, "101")
	b.bridgedBy("native_rtp")
	b.keysVoicemailCode(a, c, "*8103")
	b.leavesMessage(a, "103", 4*time.Second)
}
