package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/transferd/transferd/dialplan"
	"github.com/transferd/transferd/internal/freeport"
)

//go:embed asterisk/*.conf
var configTemplates embed.FS

// DefaultPhones are the extensions every sandbox provisions as SIP phones.
var DefaultPhones = []string{"101", "102", "103", "104", "105", "106", "107", "108", "109"}

// defaultStartTimeout bounds a start: a healthy Asterisk answers ARI in 2–5 s;
// a loaded CI machine may need several times that.
const defaultStartTimeout = 90 * time.Second

// Options configure a sandbox. The zero value is a working sandbox.
type Options struct {
	// CacheDir holds the Asterisk root filesystem (DefaultCacheDir when empty).
	CacheDir string
	// Asterisk chooses the Asterisk 22 to run: AsteriskNewest or
	// AsteriskSid (when empty: $TRANSFERD_ASTERISK, else AsteriskNewest).
	Asterisk string
	// PhoneContext is the dialplan context of the phones' calls:
	// "sandbox-direct" (plain Asterisk Dial, the default),
	// "sandbox-direct-features" (Dial with DTMF features) or "transferd".
	PhoneContext string
	// Phones lists the extensions to provision (DefaultPhones when empty).
	Phones []string
	// InfoDTMF lists the phones whose endpoints take DTMF as SIP INFO
	// (dtmf_mode = info) instead of RFC 4733.
	InfoDTMF []string
	// Config replaces or adds whole configuration files (name → content),
	// after the sandbox's own are written. Tests use it to break a file.
	Config map[string]string
	// Outbound, when set, is the uri Asterisk's outbound ARI websocket
	// connects to (ws://host:port/ari): transferd in outbound mode.
	Outbound string
	// ARIPassword is the ARI user's password (and the outbound
	// websocket's): random when empty. Nodes of one transferd share one.
	ARIPassword string
	// OutboundCA, with a wss:// Outbound, is the PEM of the CA that signed
	// transferd's certificate: Asterisk verifies it (and the host name).
	OutboundCA string
	// StartTimeout bounds waiting for ARI to answer (90 s when zero).
	StartTimeout time.Duration
	// Logf receives progress lines (silent when nil).
	Logf func(format string, args ...any)
}

// Sandbox is one running Asterisk 22, private to its owner: its own
// configuration, spool, logs and control socket inside a shared root
// filesystem, listening on loopback ports the OS picked.
type Sandbox struct {
	// ARIURL is the base URL of the HTTP server, e.g. "http://127.0.0.1:41234";
	// ARI itself is under ARIURL+"/ari".
	ARIURL      string
	ARIUser     string
	ARIPassword string
	// App is a Stasis application name tests may use.
	App string
	// SIPAddr is the UDP address phones register and send calls to.
	SIPAddr string
	// Dir is the sandbox's directory on the host (inside RootFS).
	Dir string
	// RootFS is the shared root filesystem the sandbox runs in.
	RootFS string
	// Installed says which Asterisk the root filesystem holds.
	Installed RootFS

	chrootDir string // Dir as seen inside the chroot
	logf      func(string, ...any)
	timeout   time.Duration
	phones    []string
	infoDTMF  []string

	mu      sync.Mutex
	proc    *exec.Cmd
	exited  chan struct{} // closed when proc has been waited for
	exitErr error
}

// Start starts a sandbox for a test and stops it when the test ends. On
// cleanup it fails the test if Asterisk still holds a channel or a bridge:
// everything a test (or transferd) creates must be gone when it ends.
func Start(t testing, opts Options) *Sandbox {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sb, err := New(ctx, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if left, err := sb.WaitEmpty(ctx, 5*time.Second); err != nil {
			t.Errorf("sandbox: check for leftovers: %v", err)
		} else if left != "" {
			t.Errorf("sandbox: Asterisk still holds after the test:\n%s", left)
		}
		if err := sb.Stop(ctx); err != nil {
			t.Errorf("%v", err)
		}
		if t.Failed() {
			t.Logf("sandbox: kept %s for inspection; Asterisk log tail:\n%s", sb.Dir, sb.LogTail(40))
			return
		}
		os.RemoveAll(sb.Dir)
	})
	return sb
}

// testing is the part of testing.TB Start needs; it keeps the package free
// of a "testing" import for the demo command.
type testing interface {
	Helper()
	Logf(string, ...any)
	Errorf(string, ...any)
	Fatalf(string, ...any)
	Failed() bool
	Cleanup(func())
}

// New provisions (if needed) and starts a sandbox. The caller stops it.
func New(ctx context.Context, opts Options) (*Sandbox, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	rootOpts := RootFSOptionsFromEnv()
	rootOpts.Logf = logf
	if opts.CacheDir != "" {
		rootOpts.CacheDir = opts.CacheDir
	}
	if opts.Asterisk != "" {
		rootOpts.Asterisk = opts.Asterisk
	}
	installed, err := EnsureRootFS(ctx, rootOpts)
	if err != nil {
		return nil, err
	}
	root := installed.Dir
	id := randomID()
	sb := &Sandbox{
		ARIUser:     "transferd",
		ARIPassword: cmp.Or(opts.ARIPassword, "sandbox-"+randomID()),
		App:         "transferd",
		RootFS:      root,
		Installed:   installed,
		chrootDir:   path.Join("/var/tmp/transferd-sandbox", id),
		logf:        logf,
		timeout:     opts.StartTimeout,
		phones:      opts.Phones,
		infoDTMF:    opts.InfoDTMF,
	}
	if sb.timeout == 0 {
		sb.timeout = defaultStartTimeout
	}
	if len(sb.phones) == 0 {
		sb.phones = DefaultPhones
	}
	sb.Dir = filepath.Join(root, sb.chrootDir)
	for _, sub := range []string{"etc", "db", "spool", "log", "run", "cache"} {
		if err := os.MkdirAll(filepath.Join(sb.Dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: create %s: %w", sub, err)
		}
	}

	// Ports are picked (freeport: outside the ephemeral range), released
	// and handed to Asterisk. Another process could take one in between;
	// then the start fails with a bind error in the log, and we retry on
	// fresh ports.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		ariPort, err := freeport.TCP()
		if err != nil {
			return nil, err
		}
		sipPort, err := freeport.UDP()
		if err != nil {
			return nil, err
		}
		sb.ARIURL = "http://127.0.0.1:" + strconv.Itoa(ariPort)
		sb.SIPAddr = "127.0.0.1:" + strconv.Itoa(sipPort)
		if err := sb.writeConfig(opts, ariPort, sipPort); err != nil {
			return nil, err
		}
		err = sb.start(ctx)
		if err == nil {
			return sb, nil
		}
		if attempt == attempts || !strings.Contains(sb.LogTail(200), "Address already in use") {
			return nil, err
		}
		logf("sandbox: port taken, retrying: %v", err)
	}
}

// PhonePassword is the SIP digest password of a provisioned extension.
func (sb *Sandbox) PhonePassword(ext string) string { return PhonePassword(ext) }

// InfoDTMF reports whether a phone's endpoint takes DTMF as SIP INFO
// (Options.InfoDTMF).
func (sb *Sandbox) InfoDTMF(ext string) bool { return slices.Contains(sb.infoDTMF, ext) }

// PhonePassword is the SIP password of a sandbox phone.
func PhonePassword(ext string) string { return "pw-" + ext }

// VoicemailInbox is the host path of an extension's voicemail INBOX
// (mailbox context "default").
func (sb *Sandbox) VoicemailInbox(ext string) string {
	return filepath.Join(sb.Dir, "spool", "voicemail", "default", ext, "INBOX")
}

type phoneConfig struct {
	Ext, Password, VoicemailPIN string
	InfoDTMF                    bool
}

func (sb *Sandbox) writeConfig(opts Options, ariPort, sipPort int) error {
	spec := ConfigSpec{
		Dir: sb.chrootDir, ARIUser: sb.ARIUser, ARIPassword: sb.ARIPassword,
		PhoneContext: opts.PhoneContext, ARIPort: ariPort, SIPPort: sipPort, Phones: sb.phones, InfoDTMF: opts.InfoDTMF,
		Outbound: opts.Outbound, Keepalives: sb.Installed.KnowsKeepalives(), OutboundCA: opts.OutboundCA,
	}
	etc := filepath.Join(sb.Dir, "etc")
	if err := RenderConfig(etc, spec); err != nil {
		return err
	}
	for name, text := range opts.Config {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("sandbox: write %s: %w", name, err)
		}
	}
	return nil
}

// ConfigSpec describes an Asterisk configuration RenderConfig writes.
type ConfigSpec struct {
	// Dir is Asterisk's private directory as Asterisk sees it (etc, db,
	// spool, run, log and cache live under it).
	Dir                  string
	ARIUser, ARIPassword string
	PhoneContext         string // "sandbox-direct" when empty
	ARIPort, SIPPort     int
	Phones               []string // extensions; password PhonePassword(ext)
	InfoDTMF             []string // phones with dtmf_mode = info
	// Outbound: the uri of transferd's outbound websocket listener; empty
	// for inbound ARI only.
	Outbound string
	// Keepalives: the Asterisk knows websocket_client's keepalive options
	// (22.11+).
	Keepalives bool
	// OutboundCA: PEM of the CA Asterisk checks transferd's certificate
	// against (wss://); written to etc/transferd-ca.pem.
	OutboundCA string
}

// RenderConfig writes the sandbox's Asterisk configuration and the product
// dialplan into etc. The compose stack's Asterisk image uses it too.
func RenderConfig(etc string, spec ConfigSpec) error {
	data := struct {
		Dir, ARIUser, ARIPassword, PhoneContext, Outbound string
		ARIPort, SIPPort                                  int
		Keepalives, OutboundCA                            bool
		Phones                                            []phoneConfig
	}{
		Dir: spec.Dir, ARIUser: spec.ARIUser, ARIPassword: spec.ARIPassword,
		PhoneContext: spec.PhoneContext, ARIPort: spec.ARIPort, SIPPort: spec.SIPPort,
		Outbound: spec.Outbound, Keepalives: spec.Keepalives, OutboundCA: spec.OutboundCA != "",
	}
	if spec.OutboundCA != "" {
		if err := os.WriteFile(filepath.Join(etc, "transferd-ca.pem"), []byte(spec.OutboundCA), 0o644); err != nil {
			return fmt.Errorf("sandbox: write transferd-ca.pem: %w", err)
		}
	}
	if data.PhoneContext == "" {
		data.PhoneContext = "sandbox-direct"
	}
	for _, ext := range spec.Phones {
		data.Phones = append(data.Phones, phoneConfig{Ext: ext, Password: PhonePassword(ext), VoicemailPIN: "1" + ext,
			InfoDTMF: slices.Contains(spec.InfoDTMF, ext)})
	}
	tmpls, err := fs.Glob(configTemplates, "asterisk/*.conf")
	if err != nil {
		return fmt.Errorf("sandbox: list config templates: %w", err)
	}
	for _, name := range tmpls {
		text, err := configTemplates.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sandbox: read %s: %w", name, err)
		}
		tmpl, err := template.New(name).Option("missingkey=error").Parse(string(text))
		if err != nil {
			return fmt.Errorf("sandbox: parse %s: %w", name, err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, data); err != nil {
			return fmt.Errorf("sandbox: render %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(etc, path.Base(name)), buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("sandbox: write %s: %w", name, err)
		}
	}
	// The product dialplan, exactly as shipped.
	product, err := fs.Glob(dialplan.Files, "*.conf")
	if err != nil {
		return fmt.Errorf("sandbox: list dialplan files: %w", err)
	}
	for _, name := range product {
		text, err := dialplan.Files.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sandbox: read dialplan %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(etc, name), text, 0o644); err != nil {
			return fmt.Errorf("sandbox: write dialplan %s: %w", name, err)
		}
	}
	return nil
}

// start launches Asterisk and waits until it is fully booted and ARI answers.
func (sb *Sandbox) start(ctx context.Context) error {
	// Truncate the previous run's log so LogTail explains this start.
	os.Remove(filepath.Join(sb.Dir, "log", "messages.log"))
	console, err := os.Create(filepath.Join(sb.Dir, "log", "console.log"))
	if err != nil {
		return fmt.Errorf("sandbox: create console log: %w", err)
	}
	// A private mount namespace gives Asterisk /proc inside the chroot; the
	// mount vanishes with the process, so a killed sandbox leaves nothing
	// mounted in the shared root filesystem.
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", `mount -t proc proc "$1/proc" && exec chroot "$1" /usr/sbin/asterisk -f -n -U root -G root -C "$2"`,
		"sh", sb.RootFS, path.Join(sb.chrootDir, "etc", "asterisk.conf"))
	cmd.Stdout, cmd.Stderr = console, console
	// Own process group: a stop never signals the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		console.Close()
		return fmt.Errorf("sandbox: start asterisk: %w", err)
	}
	exited := make(chan struct{})
	sb.mu.Lock()
	sb.proc, sb.exited, sb.exitErr = cmd, exited, nil
	sb.mu.Unlock()
	go func() {
		err := cmd.Wait()
		console.Close()
		sb.mu.Lock()
		sb.exitErr = err
		sb.mu.Unlock()
		close(exited)
	}()

	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, sb.timeout)
	defer cancel()
	if err := sb.waitARI(ctx, exited); err != nil {
		sb.kill()
		return fmt.Errorf("sandbox: asterisk did not start: %w\nasterisk log (%s):\n%s",
			err, filepath.Join(sb.Dir, "log"), sb.LogTail(40))
	}
	// ARI may answer before every module has loaded; PJSIP must be ready
	// before phones register.
	if out, err := sb.CLI(ctx, "core waitfullybooted"); err != nil {
		sb.kill()
		return fmt.Errorf("sandbox: asterisk did not finish booting: %w: %s\nasterisk log:\n%s", err, out, sb.LogTail(40))
	}
	sb.logf("sandbox: asterisk ready in %s: ARI %s, SIP udp %s, dir %s",
		time.Since(started).Round(time.Millisecond), sb.ARIURL, sb.SIPAddr, sb.Dir)
	return nil
}

func (sb *Sandbox) waitARI(ctx context.Context, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		select {
		case <-exited:
			sb.mu.Lock()
			err := sb.exitErr
			sb.mu.Unlock()
			return fmt.Errorf("asterisk exited during start (%v)", err)
		case <-ctx.Done():
			return fmt.Errorf("ARI did not answer within %s (last error: %v)", sb.timeout, lastErr)
		case <-tick.C:
		}
		var info struct {
			System struct {
				Version string `json:"version"`
			} `json:"system"`
		}
		if lastErr = sb.ariGet(ctx, client, "/ari/asterisk/info", &info); lastErr == nil {
			return nil
		}
	}
}

// ariGet performs an authenticated GET on the sandbox's ARI and decodes JSON.
// The sandbox uses plain net/http, not package ari, so ari's own contract
// tests can use the sandbox.
func (sb *Sandbox) ariGet(ctx context.Context, client *http.Client, p string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sb.ARIURL+p, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(sb.ARIUser, sb.ARIPassword)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", p, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// CLI runs an Asterisk CLI command on the running sandbox and returns its output.
func (sb *Sandbox) CLI(ctx context.Context, command string) (string, error) {
	cmd := exec.CommandContext(ctx, "chroot", sb.RootFS, "/usr/sbin/asterisk",
		"-C", path.Join(sb.chrootDir, "etc", "asterisk.conf"), "-rx", command)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("sandbox: cli %q: %w", command, err)
	}
	return string(out), nil
}

// AddTrunk joins this Asterisk to another node's over SIP: endpoint name
// (context from-nodes) reaches sipAddr (TrunkConfig). Dial
// "PJSIP/<ext>@<name>" to call an extension there.
func (sb *Sandbox) AddTrunk(ctx context.Context, name, sipAddr string) error {
	trunk := TrunkConfig(name, sipAddr)
	f, err := os.OpenFile(filepath.Join(sb.Dir, "etc", "pjsip_trunks.conf"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("sandbox: trunk %s: %w", name, err)
	}
	_, err = f.WriteString(trunk)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sandbox: trunk %s: %w", name, err)
	}
	if out, err := sb.CLI(ctx, "module reload res_pjsip.so"); err != nil {
		return fmt.Errorf("sandbox: trunk %s: reloading pjsip: %w: %s", name, err, out)
	}
	// (The reload is asynchronous: wait until the endpoint is there.)
	for {
		out, err := sb.CLI(ctx, "pjsip show endpoint "+name)
		if err == nil && strings.Contains(out, "Endpoint:  "+name) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox: trunk %s never appeared after the reload: %w: %s", name, ctx.Err(), out)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TrunkConfig is the pjsip.conf text of a trunk to another Asterisk node
// (pjsip.conf includes pjsip_trunks.conf): endpoint name (context
// from-nodes) reaches sipAddr, and calls from sipAddr are that endpoint's
// (identified by address and port: every sandbox, and every node of the
// compose stack, listens on 127.0.0.1). Caller id and connected line
// cross both ways (P-Asserted-Identity, trusted). AddTrunk and the
// compose stack's node images (internal/compose) write it.
func TrunkConfig(name, sipAddr string) string {
	return fmt.Sprintf(`
[%[1]s]
type = endpoint
transport = transport-udp
context = from-nodes
aors = %[1]s
disallow = all
allow = ulaw,alaw
dtmf_mode = rfc4733
direct_media = no
send_pai = yes
trust_id_inbound = yes
trust_id_outbound = yes

[%[1]s]
type = aor
contact = sip:%[2]s

[%[1]s-identify]
type = identify
endpoint = %[1]s
match = %[2]s
`, name, sipAddr)
}

// Leftovers lists the channels and bridges Asterisk holds, one per line, or
// "" when there are none.
func (sb *Sandbox) Leftovers(ctx context.Context) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	var channels []struct {
		ID, Name, State string
	}
	if err := sb.ariGet(ctx, client, "/ari/channels", &channels); err != nil {
		return "", fmt.Errorf("sandbox: list channels: %w", err)
	}
	bridges, err := sb.Bridges(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, c := range channels {
		fmt.Fprintf(&b, "channel %s %s (%s)\n", c.ID, c.Name, c.State)
	}
	for _, br := range bridges {
		fmt.Fprintf(&b, "bridge %s %q with channels %v\n", br.ID, br.Name, br.Channels)
	}
	return b.String(), nil
}

// Bridge is a bridge Asterisk holds, with the technology it chose
// (native_rtp, simple_bridge, softmix, holding_bridge, ...).
type Bridge struct {
	ID, Name, Technology string
	Channels             []string
}

// Bridges lists the bridges Asterisk holds.
func (sb *Sandbox) Bridges(ctx context.Context) ([]Bridge, error) {
	var bridges []Bridge
	if err := sb.ariGet(ctx, &http.Client{Timeout: 5 * time.Second}, "/ari/bridges", &bridges); err != nil {
		return nil, fmt.Errorf("sandbox: list bridges: %w", err)
	}
	return bridges, nil
}

// WaitEmpty waits up to grace for Asterisk to hold no channel and no bridge
// (hangups complete asynchronously) and returns what is still there.
func (sb *Sandbox) WaitEmpty(ctx context.Context, grace time.Duration) (string, error) {
	deadline := time.Now().Add(grace)
	for {
		left, err := sb.Leftovers(ctx)
		if err != nil || left == "" || time.Now().After(deadline) {
			return left, err
		}
		select {
		case <-ctx.Done():
			return left, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop shuts Asterisk down and waits for it to exit. The sandbox directory
// stays (Restart reuses it; Start's cleanup removes it).
func (sb *Sandbox) Stop(ctx context.Context) error {
	sb.mu.Lock()
	exited := sb.exited
	sb.mu.Unlock()
	if exited == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sb.CLI(stopCtx, "core stop now") // the process exit below is what counts
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	sb.kill()
	return errors.New("sandbox: asterisk did not stop on 'core stop now'; killed it")
}

// PID is the process id of the running Asterisk, 0 when it is not running.
// The start command execs (unshare without --fork, sh's exec, chroot's
// exec) down to Asterisk, so the started process is Asterisk itself; the
// load harness reads its CPU time from /proc/PID/stat.
func (sb *Sandbox) PID() int {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.proc == nil || sb.proc.Process == nil {
		return 0
	}
	select {
	case <-sb.exited:
		return 0
	default:
	}
	return sb.proc.Process.Pid
}

// Restart stops Asterisk and starts it again with the same configuration
// and ports, as an operator restarting the PBX would.
func (sb *Sandbox) Restart(ctx context.Context) error {
	if err := sb.Stop(ctx); err != nil {
		return err
	}
	return sb.start(ctx)
}

// StartAgain starts a stopped Asterisk with the same configuration and
// ports (an operator bringing the PBX back after a Stop).
func (sb *Sandbox) StartAgain(ctx context.Context) error {
	return sb.start(ctx)
}

func (sb *Sandbox) kill() {
	sb.mu.Lock()
	proc, exited := sb.proc, sb.exited
	sb.mu.Unlock()
	if proc == nil || proc.Process == nil {
		return
	}
	syscall.Kill(-proc.Process.Pid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
	}
}

// LogTail returns the last n lines of Asterisk's message log, followed by
// its console output when the log is empty (a config error may stop
// Asterisk before the logger starts).
func (sb *Sandbox) LogTail(n int) string {
	var parts []string
	for _, name := range []string{"messages.log", "console.log"} {
		data, err := os.ReadFile(filepath.Join(sb.Dir, "log", name))
		if err == nil && len(bytes.TrimSpace(data)) > 0 {
			parts = append(parts, "== "+name+" ==\n"+lastLines(string(data), n))
		}
	}
	if len(parts) == 0 {
		return "(no log output)"
	}
	return strings.Join(parts, "\n")
}

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
