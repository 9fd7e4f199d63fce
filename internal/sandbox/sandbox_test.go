package sandbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/sandbox"
)

func TestSandboxStartsAsterisk22WithProjectDialplan(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping tests that run a real Asterisk")
	}
	t.Parallel()
	sb := sandbox.Start(t, sandbox.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	version, err := sb.CLI(ctx, "core show version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(version, "Asterisk 22.") {
		t.Errorf("core show version = %q, want Asterisk 22.x", version)
	}
	// The product dialplan is loaded: its contexts exist as shipped.
	for _, context := range []string{"transferd", "transferd-voicemail", "sandbox-direct", "sandbox-direct-features"} {
		out, err := sb.CLI(ctx, "dialplan show "+context)
		if err != nil || strings.Contains(out, "There is no existence") {
			t.Errorf("dialplan show %s: %v %s", context, err, out)
		}
	}
	// Every provisioned phone is an endpoint with a mailbox.
	out, err := sb.CLI(ctx, "pjsip show endpoints")
	if err != nil {
		t.Fatal(err)
	}
	for _, ext := range sandbox.DefaultPhones {
		if !strings.Contains(out, "Endpoint:  "+ext) {
			t.Errorf("endpoint %s missing from:\n%s", ext, out)
		}
	}
	out, err = sb.CLI(ctx, "voicemail show users")
	if err != nil || !strings.Contains(out, "103") {
		t.Errorf("voicemail show users: %v\n%s", err, out)
	}
	out, err = sb.CLI(ctx, "moh show files")
	if err != nil || !strings.Contains(out, "/usr/share/asterisk/moh/") {
		t.Errorf("moh show files: no music on hold files: %v\n%s", err, out)
	}
}

func TestSandboxesRunSideBySide(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping tests that run a real Asterisk")
	}
	t.Parallel()
	a := sandbox.Start(t, sandbox.Options{})
	b := sandbox.Start(t, sandbox.Options{})
	if a.ARIURL == b.ARIURL || a.SIPAddr == b.SIPAddr || a.Dir == b.Dir {
		t.Fatalf("sandboxes share resources: %+v / %+v", a, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Each CLI reaches its own Asterisk: stop one, the other still answers.
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CLI(ctx, "core show uptime"); err != nil {
		t.Fatalf("second sandbox died with the first: %v", err)
	}
	if err := a.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if _, err := a.CLI(ctx, "core show uptime"); err != nil {
		t.Fatalf("restarted sandbox does not answer: %v", err)
	}
}

func TestSandboxReportsBrokenConfigClearly(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping tests that run a real Asterisk")
	}
	t.Parallel()
	// An asterisk.conf that points modules at a directory that does not
	// exist: Asterisk starts but cannot load chan_pjsip, res_ari, ...; the
	// sandbox must fail fast with the lines that say why, not hang.
	// The root filesystem first, outside the timing: on a cold cache it is
	// built (or another package's test builds it) for a minute or more (CI,
	// 2026-12-02: sid's, 1m29s).
	if _, err := sandbox.EnsureRootFS(context.Background(), sandbox.RootFSOptionsFromEnv()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started := time.Now()
	sb, err := sandbox.New(ctx, sandbox.Options{
		StartTimeout: 20 * time.Second,
		Config: map[string]string{
			"http.conf":    "[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = not-a-port\n",
			"modules.conf": "[modules]\nautoload = no\nrequire = res_does_not_exist.so\n",
		},
	})
	if err == nil {
		sb.Stop(ctx)
		t.Fatal("sandbox started with a broken configuration")
	}
	if elapsed := time.Since(started); elapsed > 60*time.Second {
		t.Errorf("failure took %s, want a prompt error", elapsed)
	}
	msg := err.Error()
	for _, want := range []string{"asterisk did not start", "res_does_not_exist"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
}
