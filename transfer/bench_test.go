package transfer

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/transferd/transferd/ari"
)

// scriptedAsterisk answers every command at once and raises the events a
// real Asterisk would in reply, scripted for one call shape: the callee
// answers, then blind-transfers the caller to 103, who answers; then the
// caller hangs up. The benchmarks measure the engine, not a fake's
// bookkeeping.
type scriptedAsterisk struct {
	events chan ari.Event
	count  atomic.Int64 // events raised
	joined sync.Map     // callers that have joined their bridge
}

func (a *scriptedAsterisk) emit(evs ...ari.Event) {
	a.count.Add(int64(len(evs)))
	for _, ev := range evs {
		a.events <- ev
	}
}

func (a *scriptedAsterisk) Version(context.Context) (string, error) { return "22.11.0", nil }

func up(id string) ari.Channel { return ari.Channel{ID: id, State: "Up"} }

func (a *scriptedAsterisk) CreateChannel(_ context.Context, s ChannelSpec) error {
	a.emit(&ari.StasisStart{Channel: ari.Channel{ID: s.ID, Name: s.Endpoint + "-1", State: "Down"}})
	return nil
}
func (a *scriptedAsterisk) Dial(_ context.Context, id, _ string, _ time.Duration) error {
	a.emit(&ari.Dial{Peer: up(id), Dialstatus: "ANSWER"}, &ari.ChannelStateChange{Channel: up(id)})
	return nil
}
func (a *scriptedAsterisk) AddToBridge(_ context.Context, _, id string) error {
	switch {
	case strings.HasPrefix(id, "caller-"): // the callee (ringing in the bridge) and caller talk, then the callee transfers
		if _, again := a.joined.LoadOrStore(id, true); again {
			return nil
		}
		callee := "transferd-" + strings.TrimPrefix(id, "caller-") + "-callee2"
		a.emit(&ari.ChannelHold{Channel: up(callee)}, &ari.ChannelTransfer{
			ReferTo:    ari.ReferTo{RequestedDestination: ari.RequiredDestination{Destination: "103"}},
			ReferredBy: ari.ReferredBy{SourceChannel: up(callee)},
		})
	case strings.HasSuffix(id, "-target3"): // the target talks; the caller hangs up
		caller := strings.TrimSuffix(strings.TrimPrefix(id, "transferd-"), "-target3")
		a.joined.Delete("caller-" + caller)
		a.emit(&ari.ChannelHangupRequest{Channel: up("caller-" + caller)}, &ari.StasisEnd{Channel: up("caller-" + caller)})
	}
	return nil
}

// TransferProgress: told the transfer worked, the transferer's phone hangs
// up (letPhoneHangUp waits for that).
func (a *scriptedAsterisk) TransferProgress(_ context.Context, id, state string) error {
	if state == progressAnswered {
		a.emit(&ari.ChannelHangupRequest{Channel: up(id)}, &ari.StasisEnd{Channel: up(id)})
	}
	return nil
}
func (a *scriptedAsterisk) Hangup(_ context.Context, id, _ string) error {
	a.emit(&ari.StasisEnd{Channel: up(id)})
	return nil
}
func (*scriptedAsterisk) EndpointExists(context.Context, string) (bool, error)   { return true, nil }
func (*scriptedAsterisk) Answer(context.Context, string) error                   { return nil }
func (*scriptedAsterisk) Ring(context.Context, string) error                     { return nil }
func (*scriptedAsterisk) RingStop(context.Context, string) error                 { return nil }
func (*scriptedAsterisk) Continue(context.Context, string, string, string) error { return nil }
func (*scriptedAsterisk) AwaitReferHandled(context.Context, string) error        { return nil }
func (*scriptedAsterisk) StartMusic(context.Context, string) error               { return nil }
func (*scriptedAsterisk) StopMusic(context.Context, string) error                { return nil }
func (*scriptedAsterisk) Play(context.Context, string, string, string) error     { return nil }
func (*scriptedAsterisk) MailboxExists(context.Context, string, string) (bool, error) {
	return true, nil
}
func (*scriptedAsterisk) Snapshot(context.Context) (Snapshot, error)                     { return Snapshot{}, nil }
func (*scriptedAsterisk) SetVariable(context.Context, string, string, string) error      { return nil }
func (*scriptedAsterisk) ChannelState(context.Context, string) (string, error)           { return "Down", nil }
func (*scriptedAsterisk) SetConnectedLine(context.Context, string, string, string) error { return nil }
func (*scriptedAsterisk) CreateBridge(context.Context, string, string, bool) error       { return nil }
func (*scriptedAsterisk) RemoveFromBridge(context.Context, string, string) error         { return nil }
func (*scriptedAsterisk) DestroyBridge(context.Context, string) error                    { return nil }

// BenchmarkEngineBlindTransferCalls runs whole calls with a blind transfer
// through the engine (dispatch, owner goroutines, state machines), with an
// Asterisk that replies instantly, keeping 100 calls in progress the way
// the load harness does (a flood of b.N calls at once measured the
// engine's lists at b.N entries and swung by 3x between runs). It reports
// events handled per second and allocations per call (one call = one
// transfer, about 15 events). Run with -cpu 1 for the per-core figure.
// "log=info" writes transferd's production log (JSON at Info, with the
// caller) to nowhere: the lines a transfer logs are part of its cost.
func BenchmarkEngineBlindTransferCalls(b *testing.B) {
	b.Run("log=off", func(b *testing.B) { benchmarkBlindTransferCalls(b, zap.NewNop()) })
	b.Run("log=info", func(b *testing.B) {
		enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
		benchmarkBlindTransferCalls(b, zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel), zap.AddCaller()))
	})
}

func benchmarkBlindTransferCalls(b *testing.B, log *zap.Logger) {
	const inProgress = 100
	completed := countingObserver{done: make(chan struct{}, inProgress)}
	events := make(chan ari.Event, 4096)
	ast := &scriptedAsterisk{events: events}
	e, err := New(Config{}, ast, Options{Logger: log, Observer: &completed})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx, events); close(done) }()
	arrivals := make([]ari.Event, b.N)
	for i := range arrivals {
		// Ids of the engine's calls are "<boot>-<n>"; callers are named so
		// the script can hang them up.
		arrivals[i] = &ari.StasisStart{Channel: ari.Channel{
			ID: fmt.Sprintf("caller-%s-%d", e.boot, i+1), Name: "PJSIP/101-1", State: "Ring",
			Caller: ari.CallerID{Number: "101"}, Dialplan: ari.DialplanCEP{Exten: "102"},
		}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	timeout := time.After(time.Minute)
	for i, ev := range arrivals {
		if i >= inProgress {
			select {
			case <-completed.done:
			case <-timeout:
				b.Fatalf("%d of %d transfers completed in a minute", completed.n.Load(), b.N)
			}
		}
		ast.emit(ev)
	}
	deadline := time.Now().Add(time.Minute)
	for (completed.n.Load() < int64(b.N) || e.ActiveCalls() > 0) && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	b.StopTimer()
	b.ReportMetric(float64(ast.count.Load())/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(ast.count.Load())/float64(b.N), "events/call")
	cancel()
	<-done
	if n := completed.n.Load(); n != int64(b.N) {
		b.Fatalf("%d transfers completed, want %d: the benchmark did not run the calls it claims", n, b.N)
	}
}

// countingObserver counts completed transfers and signals each on done
// (never blocking: done's capacity is the number of calls in progress).
type countingObserver struct {
	n    atomic.Int64
	done chan struct{}
}

func (o *countingObserver) TransferEvent(ev TransferEvent) {
	if ev.Step == StepEnded && ev.Outcome == OutcomeCompleted {
		o.n.Add(1)
		select {
		case o.done <- struct{}{}:
		default:
		}
	}
}
