package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/transferd/transferd/internal/freeport"
	"github.com/transferd/transferd/internal/sandbox"
)

// The configurations measured side by side (issue 9).
const (
	configTransferd = "transferd" // phones in context transferd, REFERs handled by transferd (ari-only)
	// configTransferdCore: through transferd, but every phone in its
	// fallback mode (transfer.core_extensions ".", Asterisk performs the
	// REFERs and transferd follows).
	configTransferdCore = "transferd-core"
	configNative        = "native" // phones in context sandbox-direct, REFERs handled by Asterisk (core)
	// configNativeFeatures: as "native", but Dial(...,tT) (context
	// sandbox-direct-features): Asterisk listens to both parties' DTMF
	// for its own transfer features, which keeps every frame in its core
	// (issue 23 measures what that costs).
	configNativeFeatures = "native-features"
	// configTransferdNative: as "transferd", but no phone keys *8 during
	// a call (voicemail.refer_only_extensions "."): transferd's bridges
	// need no DTMF events and Asterisk may bridge them natively. Transfers
	// to voicemail go by REFER to *8<mailbox> instead (issue 23).
	configTransferdNative = "transferd-native"
	// configTransferdInfo: as "transferd", but every phone sends DTMF as
	// SIP INFO (endpoints' dtmf_mode = info, voicemail.info_dtmf_extensions
	// "."): users key *8 during calls, Asterisk reports the digits in any
	// bridge, so transferd's bridges are plain and may be native (issue 23).
	configTransferdInfo = "transferd-info"
	// configTransferdHA: as "transferd", but Asterisk connects out (outbound
	// ARI WebSocket) through HAProxy to two transferd replicas (issue 20).
	configTransferdHA = "transferd-ha"
	// configTransferdNodes: two Asterisk nodes joined by SIP trunks, each
	// connecting out through HAProxy (balance leastconn) to two transferd
	// replicas joined over NATS; half the scenarios transfer across the
	// trunk (issue 24; nodes.go).
	configTransferdNodes = "transferd-nodes"
)

// throughTransferd reports whether a configuration's calls go through
// the transferd daemon.
func throughTransferd(config string) bool {
	return config == configTransferd || config == configTransferdCore || withReplicas(config) || config == configTransferdNative ||
		config == configTransferdInfo
}

// withReplicas reports whether a configuration runs transferd replicas
// behind HAProxy.
func withReplicas(config string) bool {
	return config == configTransferdHA || config == configTransferdNodes
}

// knownConfig reports whether the harness knows how to start config.
func knownConfig(config string) bool {
	return throughTransferd(config) || config == configNative || config == configNativeFeatures
}

// phoneContext is the dialplan context of a configuration's phones
// (internal/sandbox/asterisk/extensions.conf).
func phoneContext(config string) string {
	switch {
	case throughTransferd(config):
		return "transferd"
	case config == configNativeFeatures:
		return "sandbox-direct-features"
	}
	return "sandbox-direct"
}

// target is one configuration under test: a private Asterisk (two for
// transferd-nodes) and, for "transferd", the transferd daemon as a
// separate process, so its CPU and memory are its own.
type target struct {
	name string
	sb   *sandbox.Sandbox // the Asterisk; transferd-nodes: node1's
	// nodes: transferd-nodes' Asterisks, node1's first (nil otherwise).
	nodes []*sandbox.Sandbox
	nats  *natsserver.Server // transferd-nodes' NATS, in this process
	td    *daemon            // nil for native and the configurations with replicas
	ha    *replicaSet        // transferd-ha and transferd-nodes only
	http  *http.Client
}

// asterisks lists every Asterisk of the target.
func (t *target) asterisks() []*sandbox.Sandbox {
	if t.nodes != nil {
		return t.nodes
	}
	return []*sandbox.Sandbox{t.sb}
}

// startTarget starts Asterisk with extensions for the largest level (for
// transferd-nodes, as many on each node) and, for the transferd
// configurations, the daemon built at bin (or its replicas).
func startTarget(ctx context.Context, name string, exts []string, bin, logLevel, haREST, workDir string, logf func(string, ...any)) (*target, error) {
	// Metrics uncompressed: gzip would be transferd CPU counted against it.
	scraper := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	t := &target{name: name, http: scraper}
	front := ""
	if withReplicas(name) {
		// Asterisk connects out to HAProxy's front, started below.
		var err error
		if front, err = freeport.TCPAddr(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if name == configTransferdNodes {
		if err := t.startNodes(ctx, len(exts)/4, front, logf); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	} else {
		sbOpts := sandbox.Options{PhoneContext: phoneContext(name), Phones: exts, Logf: logf}
		if name == configTransferdInfo {
			sbOpts.InfoDTMF = exts
		}
		if front != "" {
			sbOpts.Outbound = "ws://" + front + "/ari"
		}
		sb, err := sandbox.New(ctx, sbOpts)
		if err != nil {
			return nil, fmt.Errorf("%s: start asterisk: %w", name, err)
		}
		t.sb = sb
	}
	for _, sb := range t.asterisks() {
		if err := checkProcess(sb.PID(), "asterisk"); err != nil {
			t.stop()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if !throughTransferd(name) {
		return t, nil
	}
	spec := daemonSpec{bin: bin, logLevel: logLevel, logPath: filepath.Join(workDir, name+".log")}
	if name == configTransferdCore {
		spec.coreExtensions = "."
	}
	if name == configTransferdNative {
		// Every phone transfers to voicemail by REFER only, so every call
		// gets a plain mixing bridge.
		spec.env = append(spec.env, "TRANSFERD_VOICEMAIL_REFER_ONLY_EXTENSIONS=.")
	}
	if name == configTransferdInfo {
		spec.env = append(spec.env, "TRANSFERD_VOICEMAIL_INFO_DTMF_EXTENSIONS=.")
	}
	if withReplicas(name) {
		setup := replicaSetup{config: name, serves: []servingSeries{haServing}}
		var err error
		if name == configTransferdNodes {
			setup, err = t.nodesSetup(&spec, workDir)
		} else {
			spec.env = append(spec.env, "TRANSFERD_ARI_REST="+haREST)
		}
		if err == nil {
			t.ha, err = startReplicas(ctx, t.sb, spec, setup, front, workDir, logf)
		}
		if err != nil {
			t.stop()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return t, nil
	}
	td, err := startDaemon(ctx, t.sb, spec)
	if err != nil {
		t.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t.td = td
	return t, nil
}

// checkProcess makes sure pid is the process we think, so CPU times are
// not read from a wrapper.
func checkProcess(pid int, want string) error {
	name, err := ProcessName(pid)
	if err != nil {
		return err
	}
	if name != want {
		return fmt.Errorf("pid %d is %q, not %s", pid, name, want)
	}
	return nil
}

// stop stops transferd, then Asterisk (and NATS). It keeps the sandbox
// directories (the Asterisk log is evidence when a level failed); the
// caller removes them.
func (t *target) stop() {
	if t.td != nil {
		t.td.stop()
	}
	if t.ha != nil {
		t.ha.stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, sb := range t.asterisks() {
		if sb != nil {
			sb.Stop(ctx)
		}
	}
	if t.nats != nil {
		t.nats.Shutdown()
		t.nats.WaitForShutdown()
	}
}

// removeDirs removes the Asterisks' directories.
func (t *target) removeDirs() {
	for _, sb := range t.asterisks() {
		os.RemoveAll(sb.Dir)
	}
}

// leftovers counts the channels and bridges the Asterisks still hold.
func (t *target) leftovers(ctx context.Context) (channels, bridges int, err error) {
	for _, sb := range t.asterisks() {
		var ch, br []json.RawMessage
		if err := t.ariGet(ctx, sb, "/ari/channels", &ch); err != nil {
			return 0, 0, err
		}
		if err := t.ariGet(ctx, sb, "/ari/bridges", &br); err != nil {
			return 0, 0, err
		}
		channels, bridges = channels+len(ch), bridges+len(br)
	}
	return channels, bridges, nil
}

// waitEmpty waits up to grace for Asterisk to hold nothing (hangups
// finish asynchronously) and returns what is left.
func (t *target) waitEmpty(ctx context.Context, grace time.Duration) (channels, bridges int, err error) {
	deadline := time.Now().Add(grace)
	for {
		channels, bridges, err = t.leftovers(ctx)
		if err != nil || channels+bridges == 0 || time.Now().After(deadline) {
			return channels, bridges, err
		}
		select {
		case <-ctx.Done():
			return channels, bridges, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (t *target) ariGet(ctx context.Context, sb *sandbox.Sandbox, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sb.ARIURL+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(sb.ARIUser, sb.ARIPassword)
	resp, err := t.http.Do(req)
	if err != nil {
		return fmt.Errorf("ARI GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ARI GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("ARI GET %s: decode: %w", path, err)
	}
	return nil
}

// asteriskVersion asks the running Asterisk for its version line.
func (t *target) asteriskVersion(ctx context.Context) string {
	out, err := t.sb.CLI(ctx, "core show version")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
}

// queueWarnings counts the lines of the Asterisks' logs saying the ARI
// application's event queue passed its high-water mark.
func (t *target) queueWarnings() int {
	n := 0
	for _, sb := range t.asterisks() {
		if data, err := os.ReadFile(filepath.Join(sb.Dir, "log", "messages.log")); err == nil {
			n += CountLines(string(data), ariQueueWarning)
		}
	}
	return n
}

// consoleTail returns the last n non-empty lines of Asterisk's console
// output (stdout and stderr).
func (t *target) consoleTail(n int) []string {
	data, err := os.ReadFile(filepath.Join(t.sb.Dir, "log", "console.log"))
	if err != nil {
		return nil
	}
	return LastLines(string(data), n)
}

// ariQueueWarning starts Asterisk's taskprocessor warning for the queue of
// events waiting for an ARI application.
const ariQueueWarning = "Taskprocessor 'stasis/m:ari:application/"

// readKernelLog returns the kernel ring buffer ("" if dmesg is not
// allowed): a crashed Asterisk leaves its segfault line there.
func readKernelLog(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "dmesg").Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// daemon is a transferd process.
type daemon struct {
	cmd        *exec.Cmd
	metricsURL string
	readyURL   string
	logPath    string
	exited     chan struct{}
	// transfers: a replica's transferd_transfers_total as last scraped
	// (guarded by its replicaSet's mu).
	transfers float64
}

// buildTransferd compiles the work tree's transferd into dir.
func buildTransferd(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "transferd-bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/transferd/transferd/cmd/transferd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build transferd: %w\n%s", err, out)
	}
	return bin, nil
}

// daemonSpec says how to run one transferd process.
type daemonSpec struct {
	bin, logLevel, coreExtensions, logPath string
	// httpListen is the operator endpoints' address; a free loopback port
	// when empty. (A replica's successor reuses its predecessor's.)
	httpListen string
	// env adds TRANSFERD_* settings (a replica's outbound mode).
	env []string
	// args: command-line arguments (--config FILE for what the
	// environment cannot say, such as routes).
	args []string
}

// startDaemon runs transferd against sb, configured through its
// environment (cmd/transferd/config.go), and waits until /readyz says it
// takes calls (inbound mode: its ARI event stream is up; outbound mode: it
// listens for Asterisk).
func startDaemon(ctx context.Context, sb *sandbox.Sandbox, spec daemonSpec) (*daemon, error) {
	listen := spec.httpListen
	if listen == "" {
		var err error
		if listen, err = freeport.TCPAddr(); err != nil {
			return nil, err
		}
	}
	logFile, err := os.Create(spec.logPath)
	if err != nil {
		return nil, fmt.Errorf("transferd log: %w", err)
	}
	cmd := exec.Command(spec.bin, spec.args...)
	cmd.Env = append(os.Environ(),
		"TRANSFERD_ARI_URL="+sb.ARIURL, "TRANSFERD_ARI_USERNAME="+sb.ARIUser, "TRANSFERD_ARI_PASSWORD="+sb.ARIPassword,
		"TRANSFERD_HTTP_LISTEN="+listen, "TRANSFERD_LOG_FORMAT=json", "TRANSFERD_LOG_LEVEL="+spec.logLevel,
		"TRANSFERD_TRANSFER_CORE_EXTENSIONS="+spec.coreExtensions)
	cmd.Env = append(cmd.Env, spec.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start transferd: %w", err)
	}
	d := &daemon{cmd: cmd, metricsURL: "http://" + listen + "/metrics", readyURL: "http://" + listen + "/readyz",
		logPath: spec.logPath, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		logFile.Close()
		close(d.exited)
	}()
	if err := d.waitReady(ctx, d.readyURL); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

func (d *daemon) waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-d.exited:
			return fmt.Errorf("transferd exited during start; log %s", d.logPath)
		case <-ctx.Done():
			return fmt.Errorf("transferd not ready (see %s): %w", d.logPath, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM (transferd leaves calls alone and exits) and kills it
// if it does not exit.
func (d *daemon) stop() { d.terminate(drainTimeout) }

// drainTimeout is how long a SIGTERMed transferd may take to exit.
const drainTimeout = 10 * time.Second

// terminate sends SIGTERM and waits up to grace for the exit, then
// SIGKILLs; graceful says whether it exited by itself.
func (d *daemon) terminate(grace time.Duration) (graceful bool) {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return true
	case <-time.After(grace):
		d.kill()
		return false
	}
}

// kill SIGKILLs the process (a crash, for the takeover measurement) and
// waits until it is gone.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.exited
}

// cpu is the CPU time the process has used: read from /proc while it
// runs, from its exit status (rusage) once it has ended, so a replica
// killed during a level still counts. (The exit status is looked at first:
// a reaped process's PID may belong to another one.)
func (d *daemon) cpu() (time.Duration, error) {
	select {
	case <-d.exited:
		return d.exitCPU(), nil
	default:
	}
	cpu, err := ProcessCPU(d.pid())
	if err != nil {
		select {
		case <-d.exited: // reaped between the two looks
			return d.exitCPU(), nil
		case <-time.After(time.Second):
		}
	}
	return cpu, err
}

func (d *daemon) exitCPU() time.Duration {
	return d.cmd.ProcessState.UserTime() + d.cmd.ProcessState.SystemTime()
}
