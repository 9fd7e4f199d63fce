package haproxy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transferd/transferd/internal/sandbox"
)

// HAProxy itself accepts the configuration (haproxy -c), with each replica
// health-checked on its operator port.
func TestConfigIsValidForHAProxy(t *testing.T) {
	bin, err := sandbox.FindOrInstall(context.Background(), "haproxy", "haproxy", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	for _, balance := range []string{"", "leastconn"} {
		cfg := Config(Options{Front: "127.0.0.1:18099", Balance: balance, Replicas: []Replica{
			{Name: "a", Listen: "127.0.0.1:18101", Ops: "127.0.0.1:18201"},
			{Name: "b", Listen: "127.0.0.1:18102", Ops: "127.0.0.1:18202"},
		}})
		path := filepath.Join(t.TempDir(), "haproxy.cfg")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
			t.Fatalf("haproxy -c rejects the configuration: %v\n%s\n%s", err, out, cfg)
		}
		for _, want := range []string{"server a 127.0.0.1:18101 check port 18201", "server b 127.0.0.1:18102 check port 18202"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("configuration lacks %q:\n%s", want, cfg)
			}
		}
		wantBalance := "balance first"
		if balance != "" {
			wantBalance = "balance " + balance
		}
		if !strings.Contains(cfg, wantBalance) {
			t.Errorf("configuration lacks %q", wantBalance)
		}
	}
}
