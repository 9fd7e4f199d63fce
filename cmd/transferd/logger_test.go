package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// The daemon's log is buffered, but an error is written at once with what
// came before it, and nothing is lost on the way out.
func TestLoggerBuffersButWritesErrorsAtOnceAndEverythingOnFlush(t *testing.T) {
	log, flush, path := fileLogger(t, "json")
	written := func() string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	log.Info("first", zap.String("call", "c1"))
	if got := written(); got != "" {
		t.Fatalf("info line written at once (%q); want it buffered", got)
	}
	log.Error("second")
	if got := written(); !strings.Contains(got, `"msg":"first"`) || !strings.Contains(got, `"msg":"second"`) {
		t.Fatalf("after an error the log holds %q; want both lines", got)
	}
	log.Info("third")
	log.Debug("below the level")
	flush()
	got := written()
	if !strings.Contains(got, `"msg":"third"`) || strings.Contains(got, "below the level") {
		t.Fatalf("after flush the log holds %q; want the third line and no debug line", got)
	}
	if n := strings.Count(got, "\n"); n != 3 {
		t.Errorf("%d lines written, want 3:\n%s", n, got)
	}
}

func TestLoggerWritesBufferedLinesWithinTheFlushInterval(t *testing.T) {
	log, flush, path := fileLogger(t, "console")
	defer flush()
	log.Info("waiting line")
	deadline := time.Now().Add(logFlushInterval + 2*time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), "waiting line") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("line not written within %v", logFlushInterval+2*time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLoggerRejectsAnUnknownLevel(t *testing.T) {
	if _, _, err := newLogger("loud", "json", os.Stderr); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("newLogger(loud) error = %v, want one naming log.level", err)
	}
}

// fileLogger is the daemon's logger at level info, writing to a file whose
// path it returns.
func fileLogger(t *testing.T, format string) (*zap.Logger, func(), string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	log, flush, err := newLogger("info", format, f)
	if err != nil {
		t.Fatal(err)
	}
	return log, flush, path
}
