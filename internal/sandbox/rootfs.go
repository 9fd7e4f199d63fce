package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// debianMirror and debianSuite name where Asterisk 22 comes from: Debian
// bookworm has no asterisk package, sid has 22.x.
const (
	debianMirror = "http://deb.debian.org/debian"
	debianSuite  = "sid"
)

// rootfsPackages are installed into the root filesystem. The sound and
// music packages matter: without them MOH is silence and prompts fail.
var rootfsPackages = []string{
	"asterisk",
	"asterisk-modules",
	"asterisk-core-sounds-en-gsm",
	"asterisk-moh-opsound-gsm",
}

// rootfsName changes whenever rootfsPackages change, so a stale cache is
// rebuilt rather than silently reused.
const rootfsName = "rootfs"

// completeMarker is written last: a root filesystem without it is a
// half-finished build (interrupted debootstrap) and is rebuilt.
const completeMarker = ".transferd-rootfs-complete"

// DefaultCacheDir is where the Asterisk root filesystem is kept between runs:
// $TRANSFERD_CACHE if set, else the user's cache directory + "/transferd"
// (~/.cache/transferd). It lives outside the checkout so a fresh clone (CI)
// reuses it.
func DefaultCacheDir() (string, error) {
	if dir := os.Getenv("TRANSFERD_CACHE"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("sandbox: find cache directory: %w (set TRANSFERD_CACHE)", err)
	}
	return filepath.Join(base, "transferd"), nil
}

// EnsureRootFS returns the path of a Debian sid root filesystem with
// Asterisk 22 under cacheDir, building it with debootstrap (about a minute)
// when it is missing or incomplete. Concurrent callers (test binaries of
// several packages run in parallel) serialise on a lock file: one builds,
// the others wait and reuse it.
func EnsureRootFS(ctx context.Context, cacheDir string, logf func(string, ...any)) (string, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("sandbox: create cache directory: %w", err)
	}
	root := filepath.Join(cacheDir, rootfsName)
	if rootfsComplete(root) {
		return root, nil
	}

	lock, err := os.OpenFile(filepath.Join(cacheDir, rootfsName+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("sandbox: open rootfs lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("sandbox: lock rootfs: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if rootfsComplete(root) { // another process built it while we waited
		return root, nil
	}

	if os.Geteuid() != 0 {
		return "", errors.New("sandbox: building the Asterisk root filesystem needs root (debootstrap and chroot); run the tests as root, or in CI via .ci/run")
	}
	debootstrap, err := exec.LookPath("debootstrap")
	if err != nil {
		return "", errors.New("sandbox: debootstrap not found: install it (apt-get install debootstrap) to build the Asterisk root filesystem")
	}
	partial := root + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return "", fmt.Errorf("sandbox: remove stale partial rootfs: %w", err)
	}
	// A rootfs without the marker may be a broken earlier build: rebuild.
	if err := os.RemoveAll(root); err != nil {
		return "", fmt.Errorf("sandbox: remove incomplete rootfs: %w", err)
	}
	logf("sandbox: building Asterisk root filesystem in %s (debootstrap %s, about a minute)", root, debianSuite)
	start := time.Now()
	cmd := exec.CommandContext(ctx, debootstrap, "--variant=minbase",
		"--include="+strings.Join(rootfsPackages, ","), debianSuite, partial, debianMirror)
	out, err := runWithProgress(cmd, logf)
	if err != nil {
		return "", fmt.Errorf("sandbox: debootstrap %s: %w\n%s", debianSuite, err, lastLines(out, 30))
	}
	if err := os.WriteFile(filepath.Join(partial, completeMarker), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("sandbox: mark rootfs complete: %w", err)
	}
	if err := os.Rename(partial, root); err != nil {
		return "", fmt.Errorf("sandbox: install rootfs: %w", err)
	}
	logf("sandbox: root filesystem ready after %s", time.Since(start).Round(time.Second))
	return root, nil
}

func rootfsComplete(root string) bool {
	for _, p := range []string{completeMarker, "usr/sbin/asterisk", "usr/share/asterisk/moh"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			return false
		}
	}
	return true
}

// lastLines returns at most n trailing lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// runWithProgress runs cmd and reports its phase ("Retrieving packages",
// "Installing core packages", ...) as debootstrap announces it, so someone
// waiting for the first build sees it move. It returns the whole output.
func runWithProgress(cmd *exec.Cmd, logf func(string, ...any)) (string, error) {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		last := ""
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			// debootstrap's "I: Retrieving libc6 2.41-1" lines: report
			// each new phase once, not each package.
			phase, _, _ := strings.Cut(strings.TrimPrefix(line, "I: "), " ")
			if strings.HasPrefix(line, "I: ") && phase != last {
				last = phase
				logf("sandbox: debootstrap: %s", strings.TrimPrefix(line, "I: "))
			}
		}
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	return out.String(), err
}
