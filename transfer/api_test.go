package transfer

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// apiEngine runs an engine on a fake and returns both, with the id of
// a talking call 101 (caller "A") ↔ 102 (x1).
func apiEngine(t *testing.T, cfg Config, opts Options) (*fakeAsterisk, *Engine, string, string) {
	t.Helper()
	f := newFakeAsterisk(t)
	opts.Logger = zaptest.NewLogger(t)
	e, err := New(cfg, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx, f.events); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	_, x1 := talking(t, f)
	calls, err := e.Calls(ctx)
	if err != nil || len(calls) != 1 {
		t.Fatalf("calls: %+v, %v", calls, err)
	}
	return f, e, calls[0].ID, x1
}

func TestAPITransfers(t *testing.T) {
	ctx := context.Background()
	t.Run("lists calls with their parties", func(t *testing.T) {
		_, e, id, x1 := apiEngine(t, Config{}, Options{})
		calls, _ := e.Calls(ctx)
		want := []PartyInfo{{Channel: "A", Extension: "101", Role: "caller"}, {Channel: x1, Extension: "102", Role: "callee"}}
		if calls[0].ID != id || calls[0].State != "talking" || !slices.Equal(calls[0].Legs, want) {
			t.Errorf("call = %+v, want parties %+v", calls[0], want)
		}
	})
	t.Run("blind: the caller rings 103 and talks to it; 102 leaves", func(t *testing.T) {
		f, e, id, x1 := apiEngine(t, Config{}, Options{})
		if _, err := e.StartTransfer(ctx, id, TransferCommand{Kind: KindBlind, Destination: "103"}); err != nil {
			t.Fatal(err)
		}
		f.eventually("103 rings, 102 gone, caller waits with music", func() bool {
			return f.ringingLocked("PJSIP/103") && f.channels[x1] == nil && f.music["A"]
		})
		k := f.createdChannel("PJSIP/103")
		f.answers(k)
		f.eventually("A and 103 talk, music off", func() bool { return bridgedLocked(f, "A", k) && !f.music["A"] })
	})
	t.Run("voicemail: the caller in 103's voicemail", func(t *testing.T) {
		f, e, id, _ := apiEngine(t, Config{}, Options{})
		if _, err := e.StartTransfer(ctx, id, TransferCommand{Kind: KindVoicemail, Destination: "103"}); err != nil {
			t.Fatal(err)
		}
		f.eventually("A in 103's voicemail", func() bool { return f.continued["A"] == "transferd-voicemail,103" })
	})
	t.Run("attended, completed: caller and 103 talk", func(t *testing.T) {
		f, e, id, x1 := apiEngine(t, Config{}, Options{})
		if _, err := e.StartTransfer(ctx, id, TransferCommand{Kind: KindAttended, Destination: "103"}); err != nil {
			t.Fatal(err)
		}
		f.eventually("A held with music, 103 rings", func() bool { return f.music["A"] && f.ringingLocked("PJSIP/103") })
		k := f.createdChannel("PJSIP/103")
		f.answers(k)
		f.eventually("102 consults 103", func() bool { return bridgedLocked(f, x1, k) })
		if err := e.CompleteTransfer(ctx, id); err != nil {
			t.Fatal(err)
		}
		f.eventually("A and 103 talk, 102 gone, music off", func() bool {
			return bridgedLocked(f, "A", k) && f.channels[x1] == nil && !f.music["A"]
		})
	})
	t.Run("attended, cancelled: back to 101 and 102", func(t *testing.T) {
		f, e, id, x1 := apiEngine(t, Config{}, Options{})
		if _, err := e.StartTransfer(ctx, id, TransferCommand{Kind: KindAttended, Destination: "103"}); err != nil {
			t.Fatal(err)
		}
		f.eventually("103 rings", func() bool { return f.ringingLocked("PJSIP/103") })
		k := f.createdChannel("PJSIP/103")
		f.answers(k)
		f.eventually("102 consults 103", func() bool { return bridgedLocked(f, x1, k) })
		if err := e.CancelTransfer(ctx, id); err != nil {
			t.Fatal(err)
		}
		f.eventually("A and 102 talk again, 103 hung up", func() bool {
			return bridgedLocked(f, "A", x1) && f.channels[k] == nil && !f.music["A"]
		})
	})
	t.Run("attended, destination busy: back to 101 and 102", func(t *testing.T) {
		f, e, id, x1 := apiEngine(t, Config{}, Options{})
		e.StartTransfer(ctx, id, TransferCommand{Kind: KindAttended, Destination: "103"})
		f.eventually("103 rings", func() bool { return f.ringingLocked("PJSIP/103") })
		f.dialFails(f.createdChannel("PJSIP/103"), "BUSY", 17)
		f.eventually("A and 102 talk again", func() bool { return bridgedLocked(f, "A", x1) && !f.music["A"] })
	})
	t.Run("errors say what is wrong and change nothing", func(t *testing.T) {
		f, e, id, x1 := apiEngine(t, Config{}, Options{})
		for _, tt := range []struct {
			call string
			cmd  TransferCommand
			want error
		}{
			{"c-nope", TransferCommand{Kind: KindBlind, Destination: "103"}, ErrNoSuchCall},
			{id, TransferCommand{Kind: KindBlind, Destination: "0900123456"}, ErrRefused},
			{id, TransferCommand{Kind: KindVoicemail, Destination: "104"}, ErrNoSuchMailbox},
			{id, TransferCommand{Kind: KindBlind, Party: "109", Destination: "103"}, ErrNoSuchParty},
		} {
			if _, err := e.StartTransfer(ctx, tt.call, tt.cmd); !errors.Is(err, tt.want) {
				t.Errorf("%+v on %s: %v, want %v", tt.cmd, tt.call, err, tt.want)
			}
		}
		if err := e.CompleteTransfer(ctx, id); !errors.Is(err, ErrNoConsultation) {
			t.Errorf("complete without a consultation: %v", err)
		}
		e.StartTransfer(ctx, id, TransferCommand{Kind: KindAttended, Destination: "103"})
		if _, err := e.StartTransfer(ctx, id, TransferCommand{Kind: KindBlind, Destination: "103"}); !errors.Is(err, ErrTransferInProgress) {
			t.Errorf("second transfer: %v, want ErrTransferInProgress", err)
		}
		e.CancelTransfer(ctx, id)
		f.eventually("unchanged call", func() bool { return bridgedLocked(f, "A", x1) })
	})
}

// refuseExternal is an integrator's policy: 102 may not transfer to 103.
type refuseExternal struct{}

func (refuseExternal) AllowTransfer(_ context.Context, req Request) error {
	if req.Transferer == "102" && req.Destination == "103" {
		return ErrRefused
	}
	return nil
}

func TestCustomPolicyRefusalReachesThePhone(t *testing.T) {
	f, _, _, x1 := apiEngine(t, Config{}, Options{Policy: refuseExternal{}})
	f.holds(x1)
	f.refers(x1, "A", "103")
	f.eventually("102's phone told 603", func() bool { return slices.Contains(f.progress[x1], progressDeclined) })
	time.Sleep(10 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ringingLocked("PJSIP/103") || !bridgedLocked(f, "A", x1) {
		t.Errorf("a refused transfer changed the call\n%s", f.snapshot())
	}
}

// shortCodes is an integrator's policy that rewrites destinations: "9"
// means the operator, extension 103.
type shortCodes struct{ Policy }

func (shortCodes) Rewrite(_ context.Context, req Request) (string, error) {
	if req.Destination == "9" {
		return "103", nil
	}
	return req.Destination, nil
}

func TestPolicyMayRewriteTheDestination(t *testing.T) {
	cfg := Config{}
	cfg.Validate()
	f, _, _, x1 := apiEngine(t, cfg, Options{Policy: shortCodes{NewPatternRouter(cfg)}})
	f.holds(x1)
	f.refers(x1, "A", "9")
	f.eventually("103 rings for a transfer to 9", func() bool { return f.ringingLocked("PJSIP/103") })
	k := f.createdChannel("PJSIP/103")
	f.answers(k)
	f.eventually("A and 103 talk", func() bool { return bridgedLocked(f, "A", k) })
}
