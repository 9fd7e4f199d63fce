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

// Which Asterisk 22 a root filesystem carries (RootFSOptions.Asterisk, the
// environment's TRANSFERD_ASTERISK).
const (
	// AsteriskNewest is the newest Asterisk 22 Debian offers: sid's, or
	// experimental's when that is newer (22.11.0-rc2 against sid's 22.10.1
	// on 2026-12-01). 22.11 fixes a crash that one REFER with
	// "Refer-Sub: false" causes on 22.10.1 (asterisk#2021).
	AsteriskNewest = "newest"
	// AsteriskSid is Debian sid's Asterisk 22 as it is (22.10.1 on
	// 2026-12-01): the suite can still be run against it.
	AsteriskSid = "sid"
)

// baseSuite is where the root filesystem comes from: Debian bookworm has
// no asterisk package, sid has 22.x.
const baseSuite = "sid"

// newerSuite may hold a newer Asterisk 22 than baseSuite (release
// candidates reach experimental first).
const newerSuite = "experimental"

// rootfsPackages are installed into the root filesystem. The sound and
// music packages matter: without them MOH is silence and prompts fail.
var rootfsPackages = []string{
	"asterisk",
	"asterisk-modules",
	"asterisk-core-sounds-en-gsm",
	"asterisk-moh-opsound-gsm",
}

// asteriskPackages are upgraded together from newerSuite (they depend on
// each other's exact version).
var asteriskPackages = []string{"asterisk", "asterisk-modules", "asterisk-config"}

// completeMarker is written last: a root filesystem without it is a
// half-finished build (interrupted debootstrap) and is rebuilt.
const completeMarker = ".transferd-rootfs-complete"

// RootFSOptions choose a root filesystem. The zero value is the default:
// the newest Asterisk 22, in DefaultCacheDir, from debootstrap's default
// mirror.
type RootFSOptions struct {
	// CacheDir holds the root filesystems (DefaultCacheDir when empty).
	CacheDir string
	// Asterisk is AsteriskNewest (default) or AsteriskSid. Each choice
	// has its own root filesystem, so both can be used side by side.
	Asterisk string
	// Mirror is the Debian mirror to build from ("" leaves it to
	// debootstrap's default, deb.debian.org); apt inside the root
	// filesystem uses the same one.
	Mirror string
	// Logf receives progress lines (silent when nil).
	Logf func(format string, args ...any)
}

// RootFSOptionsFromEnv reads the choices a user makes in the environment:
// TRANSFERD_CACHE, TRANSFERD_ASTERISK (newest or sid) and
// TRANSFERD_DEBIAN_MIRROR (e.g. a local mirror or apt proxy URL).
func RootFSOptionsFromEnv() RootFSOptions {
	return RootFSOptions{
		CacheDir: os.Getenv("TRANSFERD_CACHE"),
		Asterisk: os.Getenv("TRANSFERD_ASTERISK"),
		Mirror:   os.Getenv("TRANSFERD_DEBIAN_MIRROR"),
	}
}

// RootFS is a built root filesystem with Asterisk 22.
type RootFS struct {
	// Dir is the root filesystem's path.
	Dir string
	// Asterisk is the choice it was built for (AsteriskNewest, AsteriskSid).
	Asterisk string
	// Version is the installed Debian package version of Asterisk
	// ("1:22.11.0-rc2+dfsg+~cs6.17.60671434-1"); Suite the suite it came from.
	Version, Suite string
}

// AsteriskVersion is the upstream part of Version: "22.11.0-rc2".
func (r RootFS) AsteriskVersion() string { return upstreamVersion(r.Version) }

// KnowsKeepalives reports whether this Asterisk knows websocket_client's
// keepalive options (22.11+): 22.10.1 does not load a connection that
// sets them.
func (r RootFS) KnowsKeepalives() bool { return atLeast(r.AsteriskVersion(), 22, 11) }

// upstreamVersion is a Debian version without its epoch and packaging
// suffix: "1:22.11.0-rc2+dfsg+~cs6.17.60671434-1" → "22.11.0-rc2".
func upstreamVersion(debian string) string {
	if _, after, ok := strings.Cut(debian, ":"); ok {
		debian = after
	}
	v, _, _ := strings.Cut(debian, "+")
	return v
}

// DefaultCacheDir is where the Asterisk root filesystems are kept between
// runs: $TRANSFERD_CACHE if set, else the user's cache directory +
// "/transferd" (~/.cache/transferd). It lives outside the checkout so a
// fresh clone (CI) reuses it.
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

// rootfsName is the cache entry of a choice. (Before the choice existed
// the one entry was "rootfs", sid's; it is left alone.)
func rootfsName(choice string) string { return "rootfs-" + choice }

// recordFile is the file next to a root filesystem that records what it
// holds ("asterisk=... suite=..."): which Asterisk the current choice
// resolved to, readable without starting it.
func recordFile(cacheDir, choice string) string {
	return filepath.Join(cacheDir, rootfsName(choice)+".asterisk")
}

// EnsureRootFS returns a Debian root filesystem with Asterisk 22 as opts
// choose, building it (about a minute) when it is missing or incomplete.
// Concurrent callers (test binaries of several packages run in parallel)
// serialise on a lock file: one builds, the others wait and reuse it.
//
// A root filesystem is built once per choice: AsteriskNewest resolves to
// the newest Asterisk 22 when it is built. To pick up a newer one later,
// remove it (the path is printed); it is rebuilt on next use.
func EnsureRootFS(ctx context.Context, opts RootFSOptions) (RootFS, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	switch opts.Asterisk {
	case "":
		opts.Asterisk = AsteriskNewest
	case AsteriskNewest, AsteriskSid:
	default:
		return RootFS{}, fmt.Errorf("sandbox: TRANSFERD_ASTERISK %q: want %q (the newest Asterisk 22 Debian offers) or %q (Debian sid's)",
			opts.Asterisk, AsteriskNewest, AsteriskSid)
	}
	if opts.CacheDir == "" {
		dir, err := DefaultCacheDir()
		if err != nil {
			return RootFS{}, err
		}
		opts.CacheDir = dir
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return RootFS{}, fmt.Errorf("sandbox: create cache directory: %w", err)
	}
	root := filepath.Join(opts.CacheDir, rootfsName(opts.Asterisk))
	if r, ok := readRootFS(opts.CacheDir, opts.Asterisk); ok {
		return r, nil
	}

	lock, err := os.OpenFile(root+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return RootFS{}, fmt.Errorf("sandbox: open rootfs lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return RootFS{}, fmt.Errorf("sandbox: lock rootfs: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if r, ok := readRootFS(opts.CacheDir, opts.Asterisk); ok { // another process built it while we waited
		return r, nil
	}
	return buildRootFS(ctx, opts, root, logf)
}

// readRootFS returns the complete root filesystem of choice, if there is one.
func readRootFS(cacheDir, choice string) (RootFS, bool) {
	root := filepath.Join(cacheDir, rootfsName(choice))
	for _, p := range []string{completeMarker, "usr/sbin/asterisk", "usr/share/asterisk/moh"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			return RootFS{}, false
		}
	}
	data, err := os.ReadFile(recordFile(cacheDir, choice))
	if err != nil {
		return RootFS{}, false
	}
	r := RootFS{Dir: root, Asterisk: choice}
	for _, field := range strings.Fields(string(data)) {
		k, v, _ := strings.Cut(field, "=")
		switch k {
		case "version":
			r.Version = v
		case "suite":
			r.Suite = v
		}
	}
	return r, r.Version != ""
}

// buildRootFS builds the root filesystem of opts.Asterisk at root.
func buildRootFS(ctx context.Context, opts RootFSOptions, root string, logf func(string, ...any)) (RootFS, error) {
	if os.Geteuid() != 0 {
		return RootFS{}, errors.New("sandbox: building the Asterisk root filesystem needs root (debootstrap and chroot); run as root, or in CI via .ci/run")
	}
	debootstrap, err := findDebootstrap(ctx, logf)
	if err != nil {
		return RootFS{}, err
	}
	partial := root + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return RootFS{}, fmt.Errorf("sandbox: remove stale partial rootfs: %w", err)
	}
	// A rootfs without the marker may be a broken earlier build: rebuild.
	if err := os.RemoveAll(root); err != nil {
		return RootFS{}, fmt.Errorf("sandbox: remove incomplete rootfs: %w", err)
	}
	mirror := "debootstrap's default mirror"
	if opts.Mirror != "" {
		mirror = opts.Mirror
	}
	logf("sandbox: building Asterisk root filesystem in %s (debootstrap %s from %s, then Asterisk %s; about a minute)",
		root, baseSuite, mirror, opts.Asterisk)
	start := time.Now()
	args := []string{"--variant=minbase", "--include=" + strings.Join(rootfsPackages, ","), baseSuite, partial}
	if opts.Mirror != "" {
		args = append(args, opts.Mirror)
	}
	out, err := runWithProgress(exec.CommandContext(ctx, debootstrap, args...), logf)
	if err != nil {
		return RootFS{}, fmt.Errorf("sandbox: debootstrap %s: %w\n%s\n(set TRANSFERD_DEBIAN_MIRROR to a Debian mirror you can reach)",
			baseSuite, err, lastLines(out, 30))
	}
	r := RootFS{Dir: root, Asterisk: opts.Asterisk, Suite: baseSuite}
	if opts.Asterisk == AsteriskNewest {
		if r.Suite, err = upgradeAsterisk(ctx, partial, logf); err != nil {
			return RootFS{}, err
		}
	}
	if r.Version, err = installedVersion(ctx, partial, "asterisk"); err != nil {
		return RootFS{}, err
	}
	if err := os.WriteFile(filepath.Join(partial, completeMarker), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return RootFS{}, fmt.Errorf("sandbox: mark rootfs complete: %w", err)
	}
	if err := os.Rename(partial, root); err != nil {
		return RootFS{}, fmt.Errorf("sandbox: install rootfs: %w", err)
	}
	record := fmt.Sprintf("version=%s suite=%s built=%s\n", r.Version, r.Suite, time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(recordFile(filepath.Dir(root), opts.Asterisk), []byte(record), 0o644); err != nil {
		return RootFS{}, fmt.Errorf("sandbox: record rootfs version: %w", err)
	}
	logf("sandbox: root filesystem ready after %s: Asterisk %s (Debian %s)", time.Since(start).Round(time.Second), r.AsteriskVersion(), r.Suite)
	return r, nil
}

// findDebootstrap returns debootstrap's path, installing it with apt-get
// when it is missing (Debian and Ubuntu, as root), as .ci/run does.
func findDebootstrap(ctx context.Context, logf func(string, ...any)) (string, error) {
	return FindOrInstall(ctx, "debootstrap", "debootstrap", logf)
}

// FindOrInstall returns the path of command, installing Debian's package
// pkg with apt-get when it is missing (Debian and Ubuntu, as root): the
// run and test commands set up what they need themselves.
func FindOrInstall(ctx context.Context, command, pkg string, logf func(string, ...any)) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	find := func() (string, error) {
		if p, err := exec.LookPath(command); err == nil {
			return p, nil
		}
		// (Root's PATH may lack /usr/sbin under sudo or su.)
		if p := "/usr/sbin/" + command; fileExists(p) {
			return p, nil
		}
		return "", errors.New("not found")
	}
	if p, err := find(); err == nil {
		return p, nil
	}
	howTo := fmt.Sprintf("install it (apt-get install %s) and run again", pkg)
	aptGet, err := exec.LookPath("apt-get")
	if err != nil {
		return "", fmt.Errorf("sandbox: %s not found and this is no Debian or Ubuntu (no apt-get): %s", command, howTo)
	}
	logf("sandbox: %s not found; installing it (apt-get install %s)", command, pkg)
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", pkg}} {
		cmd := exec.CommandContext(ctx, aptGet, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("sandbox: apt-get %s: %w\n%s\n%s", strings.Join(args, " "), err, lastLines(string(out), 10), howTo)
		}
	}
	if p, err := find(); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("sandbox: %s still not found after installing it: %s", command, howTo)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// upgradeAsterisk installs newerSuite's Asterisk into root when it is a
// newer Asterisk 22 than the one installed, and returns the suite the
// installed Asterisk comes from.
func upgradeAsterisk(ctx context.Context, root string, logf func(string, ...any)) (string, error) {
	mirror, err := rootfsMirror(root)
	if err != nil {
		return "", err
	}
	list := fmt.Sprintf("deb %s %s main\n", mirror, newerSuite)
	if err := os.WriteFile(filepath.Join(root, "etc/apt/sources.list.d", newerSuite+".list"), []byte(list), 0o644); err != nil {
		return "", fmt.Errorf("sandbox: add Debian %s: %w", newerSuite, err)
	}
	// A dated mirror snapshot serves Release files past their validity.
	apt := []string{"apt-get", "-q", "-o", "Acquire::Check-Valid-Until=false"}
	if out, err := chrootRun(ctx, root, append(apt, "update")...); err != nil {
		return "", fmt.Errorf("sandbox: apt-get update with Debian %s: %w\n%s", newerSuite, err, lastLines(out, 10))
	}
	installed, err := installedVersion(ctx, root, "asterisk")
	if err != nil {
		return "", err
	}
	candidate, err := suiteVersion(ctx, root, "asterisk", newerSuite)
	if err != nil {
		return "", err
	}
	if candidate == "" || !isAsterisk22(candidate) {
		logf("sandbox: Debian %s has no Asterisk 22 (%q); keeping %s's %s", newerSuite, candidate, baseSuite, installed)
		return baseSuite, nil
	}
	if newer, err := versionNewer(ctx, root, candidate, installed); err != nil || !newer {
		logf("sandbox: Debian %s's Asterisk %s is not newer than %s's %s; keeping it", newerSuite, candidate, baseSuite, installed)
		return baseSuite, err
	}
	logf("sandbox: installing Asterisk %s from Debian %s (sid has %s)", candidate, newerSuite, installed)
	args := append(apt, "install", "-y", "-t", newerSuite, "-o", "Dpkg::Options::=--force-confold")
	if out, err := chrootRun(ctx, root, append(args, asteriskPackages...)...); err != nil {
		return "", fmt.Errorf("sandbox: install Asterisk from Debian %s: %w\n%s", newerSuite, err, lastLines(out, 15))
	}
	return newerSuite, nil
}

// rootfsMirror returns the mirror debootstrap wrote into root's apt sources.
func rootfsMirror(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "etc/apt/sources.list"))
	if err != nil {
		return "", fmt.Errorf("sandbox: read the root filesystem's apt sources: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "deb" {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("sandbox: no deb line in the root filesystem's apt sources:\n%s", data)
}

func installedVersion(ctx context.Context, root, pkg string) (string, error) {
	out, err := chrootRun(ctx, root, "dpkg-query", "-W", "-f=${Version}", pkg)
	if err != nil || strings.TrimSpace(out) == "" {
		return "", fmt.Errorf("sandbox: %s not installed in the root filesystem: %v %s", pkg, err, out)
	}
	return strings.TrimSpace(out), nil
}

// suiteVersion returns the version of pkg that suite offers ("" if none),
// from apt-cache madison ("asterisk | 1:22.11.0-rc2+dfsg-1 | http://... experimental/main amd64 Packages").
func suiteVersion(ctx context.Context, root, pkg, suite string) (string, error) {
	out, err := chrootRun(ctx, root, "apt-cache", "madison", pkg)
	if err != nil {
		return "", fmt.Errorf("sandbox: apt-cache madison %s: %w\n%s", pkg, err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "|")
		if len(f) == 3 && strings.Contains(f[2], " "+suite+"/") {
			return strings.TrimSpace(f[1]), nil
		}
	}
	return "", nil
}

// isAsterisk22 reports whether a Debian version of asterisk is 22.x.
func isAsterisk22(version string) bool { return strings.HasPrefix(upstreamVersion(version), "22.") }

// atLeast reports whether an upstream version ("22.11.0-rc2") is major.minor
// or newer.
func atLeast(version string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(version, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// versionNewer compares Debian versions the way dpkg does (22.11.0-rc2
// sorts before 22.11.0 only where Debian writes it 22.11.0~rc2).
func versionNewer(ctx context.Context, root, a, b string) (bool, error) {
	_, err := chrootRun(ctx, root, "dpkg", "--compare-versions", a, "gt", b)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return false, nil
	default:
		return false, fmt.Errorf("sandbox: dpkg --compare-versions: %w", err)
	}
}

// chrootRun runs a command inside root and returns its combined output.
func chrootRun(ctx context.Context, root string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "chroot", append([]string{root}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	return string(out), err
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
		seen := map[string]bool{}
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			// debootstrap's "I: Retrieving libc6 2.41-1" lines: report
			// each phase once, not each package (Retrieving and
			// Validating alternate package by package).
			phase, _, _ := strings.Cut(strings.TrimPrefix(line, "I: "), " ")
			if strings.HasPrefix(line, "I: ") && !seen[phase] {
				seen[phase] = true
				logf("sandbox: debootstrap: %s", strings.TrimPrefix(line, "I: "))
			}
		}
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	return out.String(), err
}
