package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunCommandSandboxDemo runs what the README's run command runs, with
// --demo: a sandbox Asterisk from the cached root filesystem, transferd
// against it, and simulated phones through the three transfers.
func TestRunCommandSandboxDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping tests that run a real Asterisk")
	}
	// Not t.Parallel: t.Setenv. A free port keeps it clear of a transferd
	// running on this machine.
	t.Setenv("TRANSFERD_HTTP_LISTEN", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, []string{"--sandbox", "--demo", "--log-level", "error"}, &out); err != nil {
		t.Fatalf("run --sandbox --demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"Register a softphone",
		"user 101, 102 or 103, password pw-<user>",
		"101 hears music on hold",
		"102's phone shows the transfer succeeded (NOTIFY 200)",
		"101 hears ringback",
		"101 hears 103",
		"102 presses Resume",
		"101 hears 103's voicemail greeting",
		"a new message is in 103's mailbox",
		"demo finished",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", text)
	}
}
