package transfer

import (
	"context"
	"strings"
	"testing"
)

// brokenAsterisk is the fake Asterisk seen through a fault a wrong change
// to the engine would cause: one kind of request is never sent (drop,
// after the first keep of them went through), or a transfer's final
// progress report is sent twice. The engine believes the request worked.
type brokenAsterisk struct {
	*fakeAsterisk
	drop  string // a request's name in the fake's log ("ring", "moh-stop", ...)
	keep  int    // how many of them still go through first
	twice bool   // final progress reports are sent twice
}

// dropped reports whether this request of kind op is the fault's.
func (b *brokenAsterisk) dropped(op string) bool {
	if b.drop != op {
		return false
	}
	if b.keep > 0 {
		b.keep-- // (only owners call: one at a time per request kind in these scripts)
		return false
	}
	return true
}

func (b *brokenAsterisk) Ring(ctx context.Context, id string) error {
	if b.dropped("ring") {
		return nil
	}
	return b.fakeAsterisk.Ring(ctx, id)
}

func (b *brokenAsterisk) RingStop(ctx context.Context, id string) error {
	if b.dropped("ring-stop") {
		return nil
	}
	return b.fakeAsterisk.RingStop(ctx, id)
}

func (b *brokenAsterisk) StartMusic(ctx context.Context, id string) error {
	if b.dropped("moh") {
		return nil
	}
	return b.fakeAsterisk.StartMusic(ctx, id)
}

func (b *brokenAsterisk) StopMusic(ctx context.Context, id string) error {
	if b.dropped("moh-stop") {
		return nil
	}
	return b.fakeAsterisk.StopMusic(ctx, id)
}

func (b *brokenAsterisk) Hangup(ctx context.Context, id, reason string) error {
	if b.dropped("hangup") {
		return nil
	}
	return b.fakeAsterisk.Hangup(ctx, id, reason)
}

func (b *brokenAsterisk) AddToBridge(ctx context.Context, bridgeID, id string) error {
	if b.dropped("add") {
		return nil
	}
	return b.fakeAsterisk.AddToBridge(ctx, bridgeID, id)
}

func (b *brokenAsterisk) DestroyBridge(ctx context.Context, id string) error {
	if b.dropped("destroy-bridge") {
		return nil
	}
	return b.fakeAsterisk.DestroyBridge(ctx, id)
}

func (b *brokenAsterisk) TransferProgress(ctx context.Context, id, state string) error {
	if b.dropped("transfer-progress") {
		return nil
	}
	err := b.fakeAsterisk.TransferProgress(ctx, id, state)
	if b.twice && state != progressTrying {
		err = b.fakeAsterisk.TransferProgress(ctx, id, state)
	}
	return err
}

// The engine fuzz can fail: each fault below, one a wrong change to the
// engine could make, breaks one of its invariants within a short script,
// which passes against the correct fake. (Without the checks, or with a
// check that cannot fail, this test fails.) The scripts are the fuzz's
// own (phonescript_test.go); each byte's comment says what it does.
func TestFuzzInvariantsCatchABrokenEngine(t *testing.T) {
	// 102 calls 101, 101 answers (the callee, C), C REFERs 102 (P0) to
	// 103, 103 answers.
	blindTransfer := []byte{
		0,  // P0: 102 calls 101 (arg 1)
		1,  // the callee answers: C
		3,  // REFER by pick(13) = C of pick(14) = P0
		13, // (13 % 12 = 1) the target answers
	}
	// 102 calls 101, C answers and keys *8 and then "9#": no mailbox 9,
	// so C hears so and P0, held with music meanwhile, comes back.
	invalidVoicemail := []byte{
		0,  // P0: 102 calls 101 (arg 1)
		1,  // the callee answers: C
		8,  // pick(13) = C keys *8
		13, // (an answer: nothing rings)
		6,  // pick(13) = C keys dest
		13, // (an answer: nothing rings)
	}
	for _, tc := range []struct {
		name      string
		fault     brokenAsterisk
		script    []byte
		dest      string
		invariant string
	}{
		{"the caller hears no ringback", brokenAsterisk{drop: "ring"}, blindTransfer, "103", "no-stranded-leg"},
		{"the transferee waits in silence", brokenAsterisk{drop: "ring", keep: 1}, blindTransfer, "103", "party-hears-something"},
		{"the transferee hears ringback over the target", brokenAsterisk{drop: "ring-stop"}, blindTransfer, "103", "ringback-while-ringing"},
		{"the transferer is never told", brokenAsterisk{drop: "transfer-progress"}, blindTransfer, "103", "refer-answered"},
		{"the transferer is told twice", brokenAsterisk{twice: true}, blindTransfer, "103", "one-final-report"},
		{"the answered caller is left out of the bridge", brokenAsterisk{drop: "add"}, blindTransfer, "103", "no-stranded-leg"},
		{"the held party hears nothing", brokenAsterisk{drop: "moh"}, invalidVoicemail, "9#", "no-stranded-leg"},
		{"the held party's music goes on in the conversation", brokenAsterisk{drop: "moh-stop"}, invalidVoicemail, "9#", "no-music-over-talk"},
		{"the callee rings on after the caller hung up", brokenAsterisk{drop: "hangup"}, []byte{
			0, // P0: 103 calls 101 (arg 2)
			2, // pick(1) = P0 hangs up (the last byte's arg is its index)
		}, "", "rings-for-someone"},
		{"the bridge outlives the call", brokenAsterisk{drop: "destroy-bridge"}, []byte{
			0, // P0: 102 calls 101 (arg 1)
			1, // the callee answers: C
			2, // pick(2) = P0 hangs up
		}, "", "no-empty-bridge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa := newFakeAsterisk(t)
			if err := playPhones(t, fa, fa, tc.script, tc.dest); err != nil {
				t.Fatalf("the script fails without the fault: %v", err)
			}
			broken := tc.fault
			broken.fakeAsterisk = newFakeAsterisk(t)
			err := playPhones(t, broken.fakeAsterisk, &broken, tc.script, tc.dest)
			if want := "invariant " + tc.invariant + " broken"; err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("with the fault (%+v), want %q, got: %v", tc.fault, want, err)
			}
		})
	}
}
