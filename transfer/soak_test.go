package transfer

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
)

// Thousands of calls, many at once, each with a blind transfer: every one
// completes, and afterwards the engine holds no call, and goroutines and
// heap are back near where they started (nothing leaks per call).
func TestSoakManyConcurrentCallsWithTransfers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	var completed countingObserver
	events := make(chan ari.Event, 4096)
	ast := &scriptedAsterisk{events: events}
	e, err := New(Config{}, ast, Options{Logger: zap.NewNop(), Observer: &completed})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx, events)

	baseline := func() (int, uint64) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return runtime.NumGoroutine(), m.HeapAlloc
	}
	g0, heap0 := baseline()
	const rounds, perRound = 5, 2000
	for r := 0; r < rounds; r++ {
		for i := 0; i < perRound; i++ {
			n := r*perRound + i + 1
			ast.emit(&ari.StasisStart{Channel: ari.Channel{
				ID: fmt.Sprintf("caller-%s-%d", e.boot, n), Name: "PJSIP/101-1", State: "Ring",
				Caller: ari.CallerID{Number: "101"}, Dialplan: ari.DialplanCEP{Exten: "102"},
			}})
		}
		deadline := time.Now().Add(30 * time.Second)
		for (completed.n.Load() < int64((r+1)*perRound) || e.ActiveCalls() > 0) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := completed.n.Load(); got != int64((r+1)*perRound) {
			t.Fatalf("round %d: %d transfers completed, want %d", r, got, (r+1)*perRound)
		}
	}
	if n := e.ActiveCalls(); n != 0 {
		t.Fatalf("%d calls still held after every call ended", n)
	}
	e.mu.Lock()
	owners, byExten := len(e.owners), len(e.byExten)
	e.mu.Unlock()
	if owners != 0 || byExten != 0 {
		t.Errorf("engine still routes %d ids and indexes %d extensions", owners, byExten)
	}
	var g1 int
	var heap1 uint64
	for i := 0; i < 50; i++ { // owners finish their last step asynchronously
		if g1, heap1 = baseline(); g1 <= g0+2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if g1 > g0+2 {
		t.Errorf("goroutines: %d before, %d after %d calls", g0, g1, rounds*perRound)
	}
	if heap1 > heap0+4<<20 {
		t.Errorf("heap grew from %d to %d bytes over %d calls", heap0, heap1, rounds*perRound)
	}
	t.Logf("%d calls with transfers: goroutines %d→%d, heap %d→%d KiB", rounds*perRound, g0, g1, heap0>>10, heap1>>10)
}
