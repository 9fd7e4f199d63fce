package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	stdtesting "testing"
)

func TestRootFSAsteriskVersionIsTheUpstreamPart(t *stdtesting.T) {
	for in, want := range map[string]string{
		"1:22.11.0-rc2+dfsg+~cs6.17.60671434-1": "22.11.0-rc2",
		"1:22.10.1+dfsg+~cs6.17.60671434-1":     "22.10.1",
		"22.10.1":                               "22.10.1",
	} {
		if got := (RootFS{Version: in}).AsteriskVersion(); got != want {
			t.Errorf("AsteriskVersion(%q) = %q, want %q", in, got, want)
		}
	}
	if !isAsterisk22("1:22.11.0-rc2+dfsg") || isAsterisk22("1:23.1.0") || isAsterisk22("22") {
		t.Error("isAsterisk22 misjudges a version")
	}
}

func TestEnsureRootFSRejectsAnUnknownChoiceNamingTheSetting(t *stdtesting.T) {
	_, err := EnsureRootFS(context.Background(), RootFSOptions{CacheDir: t.TempDir(), Asterisk: "latest"})
	if err == nil || !strings.Contains(err.Error(), "TRANSFERD_ASTERISK \"latest\"") {
		t.Fatalf("EnsureRootFS(latest) = %v, want an error naming TRANSFERD_ASTERISK", err)
	}
}

// A complete root filesystem is found again, with what its record says,
// and one without its record is not trusted.
func TestRootFSRecordIsReadBack(t *stdtesting.T) {
	cache := t.TempDir()
	root := filepath.Join(cache, rootfsName(AsteriskSid))
	for _, p := range []string{"usr/sbin", "usr/share/asterisk/moh"} {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{completeMarker, "usr/sbin/asterisk"} {
		if err := os.WriteFile(filepath.Join(root, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := readRootFS(cache, AsteriskSid); ok {
		t.Fatal("a root filesystem without its record was trusted")
	}
	record := "version=1:22.10.1+dfsg+~cs6.17.60671434-1 suite=sid built=2026-12-01T00:00:00Z\n"
	if err := os.WriteFile(recordFile(cache, AsteriskSid), []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := EnsureRootFS(context.Background(), RootFSOptions{CacheDir: cache, Asterisk: AsteriskSid})
	if err != nil || r.Dir != root || r.Suite != "sid" || r.AsteriskVersion() != "22.10.1" {
		t.Fatalf("EnsureRootFS = %+v, %v; want the recorded sid 22.10.1 at %s", r, err, root)
	}
}

func TestAtLeastComparesMajorAndMinor(t *stdtesting.T) {
	for _, tt := range []struct {
		version string
		want    bool
	}{{"22.11.0-rc2", true}, {"22.10.1", false}, {"23.0.0", true}, {"21.12.0", false}, {"garbage", false}} {
		if got := atLeast(tt.version, 22, 11); got != tt.want {
			t.Errorf("atLeast(%q, 22, 11) = %v, want %v", tt.version, got, tt.want)
		}
	}
}
