package main

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/internal/sipphone"
)

// TestRunCommandSandboxReplicasTakeOver runs the README's
// `--sandbox --replicas 2` and does what its output tells a newcomer: a
// call between two phones, then `kill -9` of the replica that serves
// Asterisk. The other replica takes the call over (it counts it, and the
// two still hear each other), the run reports the takeover and starts the
// killed replica again; when the run ends, no replica is left.
func TestRunCommandSandboxReplicasTakeOver(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping tests that run a real Asterisk")
	}
	// Not t.Parallel: t.Setenv. The replicas are this test binary, which
	// TestMain turns into transferd's main.
	t.Setenv("TRANSFERD_E2E_RUN_MAIN", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, stop := runInBackground(ctx, "--sandbox", "--replicas", "2", "--log-level", "warn")
	defer stop()

	// What the output says, read as a newcomer would.
	sipAddr := out.await(ctx, t, `server (\S+) \(UDP\)`)[1]
	servingPID, _ := strconv.Atoi(out.await(ctx, t, `(?m)^  kill -9 (\d+)$`)[1])
	replicaLine := func(name string) (pid int, ops string) {
		m := out.await(ctx, t, `replica `+name+`: pid (\d+), ops http://(\S+) `)
		pid, _ = strconv.Atoi(m[1])
		return pid, m[2]
	}
	pidA, opsA := replicaLine("a")
	pidB, opsB := replicaLine("b")
	if servingPID != pidA {
		t.Fatalf("the output tells to kill pid %d, want replica a's %d (HAProxy's balance first)", servingPID, pidA)
	}

	b := &bed{t: t, ctx: ctx, sb: &sandbox.Sandbox{SIPAddr: sipAddr}, phones: map[string]*sipphone.Phone{}}
	for _, ext := range []string{"101", "102"} {
		p := registerPhone(ctx, t, ext, sipAddr)
		defer p.Close()
		b.phones[ext] = p
	}
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.hears("102", c, "101")
	if n := b.metricAt(opsA, "transferd_active_calls"); n != 1 {
		t.Fatalf("replica a handles %d calls, want the one", n)
	}

	if err := syscall.Kill(servingPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	took := out.await(ctx, t, `takeover: replica b serves Asterisk now, (\S+) after replica a died`)[1]
	t.Logf("the run reports replica b's takeover %s after replica a died", took)
	for b.metricAt(opsB, "transferd_active_calls") != 1 {
		if ctx.Err() != nil {
			t.Fatal("replica b does not count the call it took over")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.hears("101 (after the kill)", a, "102")
	b.hears("102 (after the kill)", c, "101")
	restarted, _ := strconv.Atoi(out.await(ctx, t, `replica a started again: pid (\d+)`)[1])
	b.waitReadyAt(opsA)
	a.Hangup(ctx)
	if err := c.WaitEnded(ctx); err != nil {
		t.Fatalf("102's call does not end after 101 hung up: %v", err)
	}

	if err := stop(); err != nil {
		t.Fatalf("run --sandbox --replicas 2: %v\n%s", err, out.String())
	}
	for _, pid := range []int{pidB, restarted} {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("replica pid %d outlived the run (kill 0: %v)", pid, err)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}

// runInBackground runs transferd (run) with args until stop is called or
// ctx ends; stop returns run's result (the same at every call).
func runInBackground(ctx context.Context, args ...string) (out *watchedOutput, stop func() error) {
	out = &watchedOutput{}
	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, args, out) }()
	return out, sync.OnceValue(func() error {
		stopRun()
		return <-done
	})
}

// watchedOutput is a run's stdout that a test can wait on.
type watchedOutput struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// await waits until the output matches pattern and returns the match.
func (w *watchedOutput) await(ctx context.Context, t *testing.T, pattern string) []string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	for {
		if m := re.FindStringSubmatch(w.String()); m != nil {
			return m
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the output never showed %q:\n%s", pattern, w.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestRunCommandSandboxReplicasDemo runs `--sandbox --replicas 2 --demo`:
// after the user guide's transfers, the demo kills the replica serving
// Asterisk during a call and narrates that the call goes on.
func TestRunCommandSandboxReplicasDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping tests that run a real Asterisk")
	}
	t.Setenv("TRANSFERD_E2E_RUN_MAIN", "1") // (the replicas: see above)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out := &watchedOutput{}
	if err := run(ctx, []string{"--sandbox", "--replicas", "2", "--demo", "--log-level", "error"}, out); err != nil {
		t.Fatalf("run --sandbox --replicas 2 --demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"kill -9 ",
		"102's phone shows the transfer succeeded (NOTIFY 200)",
		"== demo 4: the replica serving Asterisk is killed mid-call (kill -9) ==",
		"replica a is gone; Asterisk reconnects through HAProxy: replica b serves",
		"takeover: replica b serves Asterisk now",
		"replica a started again",
		"the call went on; 101 hangs up",
		"demo finished",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", text)
	}
}
