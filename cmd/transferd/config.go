package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/transferd/transferd/transfer"
)

// Config is transferd's whole configuration, merged by viper from (lowest
// to highest precedence) defaults, the YAML file given by --config,
// TRANSFERD_<SECTION>_<KEY> environment variables and flags.
type Config struct {
	ARI struct {
		// URL of Asterisk's HTTP server, e.g. http://127.0.0.1:8088 (the
		// client adds /ari).
		URL      string `mapstructure:"url"`
		Username string `mapstructure:"username"`
		// Password is never logged; prefer TRANSFERD_ARI_PASSWORD to a flag.
		Password string `mapstructure:"password"`
		// PasswordFile names a file holding the password (a container
		// secret); it is read at start. Use it or Password, not both.
		PasswordFile string `mapstructure:"password_file"`
		// App is the Stasis application name the dialplan enters.
		App string `mapstructure:"app"`
		// CAFile is a PEM file of the CA that signed Asterisk's HTTPS
		// certificate (an https:// url); empty uses the system's roots.
		CAFile string `mapstructure:"ca_file"`
		// Mode: "inbound" (transferd connects to Asterisk at URL) or
		// "outbound" (Asterisk 22.5+ connects to transferd at Listen:
		// ari.conf type=outbound_websocket; REST travels over that
		// connection too).
		Mode string `mapstructure:"mode"`
		// Listen (outbound mode): the address Asterisk's websocket_client
		// connects to, path /ari, e.g. ws://transferd:8099/ari.
		Listen string `mapstructure:"listen"`
		// ListenCertFile and ListenKeyFile (outbound mode): PEM files for
		// wss://; both empty for ws://.
		ListenCertFile string `mapstructure:"listen_cert_file"`
		ListenKeyFile  string `mapstructure:"listen_key_file"`
		// REST (outbound mode): "websocket" sends REST requests over
		// Asterisk's connection (no route to Asterisk's HTTP server
		// needed), "http" sends them to URL, where Asterisk serves them
		// in parallel instead of one at a time ("" is websocket).
		REST string `mapstructure:"rest"`
		// Node names the Asterisk of inbound mode, and (outbound mode) the
		// one that connects to path /ari; an Asterisk connecting to
		// /ari/<name> is the node <name>. Logs, metrics (label node),
		// API calls and transfer events carry it.
		Node string `mapstructure:"node"`
		// Nodes (outbound mode), when not empty, are the only node names
		// accepted at /ari/<name>; empty accepts any valid name.
		Nodes []string `mapstructure:"nodes"`

		tls *tls.Config
		// appCheckEvery: how often a connected node looks for calls the
		// dialplan sent past transferd (appCheck; tests shorten it).
		appCheckEvery time.Duration
	} `mapstructure:"ari"`
	Calls struct {
		DialTemplate     string        `mapstructure:"dial_template"`
		ExtensionPattern string        `mapstructure:"extension_pattern"`
		AnswerTimeout    time.Duration `mapstructure:"answer_timeout"`
		NoAnswer         string        `mapstructure:"no_answer"`
	} `mapstructure:"calls"`
	Transfer struct {
		NoAnswer string `mapstructure:"no_answer"`
		// TransfererHangup: "complete" or "recall" (see transfer.Config).
		TransfererHangup string `mapstructure:"transferer_hangup"`
		// Handling: "auto", "ari-only" or "core" (see transfer.Config).
		Handling string `mapstructure:"handling"`
		// CoreExtensions: phones whose REFERs Asterisk handles itself.
		CoreExtensions string `mapstructure:"core_extensions"`
		Context        string `mapstructure:"context"`
	} `mapstructure:"transfer"`
	Voicemail struct {
		Context        string        `mapstructure:"context"`
		MailboxContext string        `mapstructure:"mailbox_context"`
		Code           string        `mapstructure:"code"`
		DigitTimeout   time.Duration `mapstructure:"digit_timeout"`
		Fallback       string        `mapstructure:"fallback"`
		// ReferOnlyExtensions: phones whose users never key the code
		// during a call; their calls are bridged natively.
		ReferOnlyExtensions string `mapstructure:"refer_only_extensions"`
		// InfoDTMFExtensions: phones that send DTMF as SIP INFO.
		InfoDTMFExtensions string `mapstructure:"info_dtmf_extensions"`
	} `mapstructure:"voicemail"`
	// Cluster joins transferd replicas into one API and event stream
	// over NATS (see cluster.go); off without a URL.
	Cluster struct {
		// NATSURL: e.g. nats://nats:4222 (several: comma-separated).
		NATSURL string `mapstructure:"nats_url"`
		// Replica names this transferd in the cluster (default: host
		// name and process id).
		Replica string `mapstructure:"replica"`
		// RequestTimeout bounds a request to another replica.
		RequestTimeout time.Duration `mapstructure:"request_timeout"`
	} `mapstructure:"cluster"`
	// Routes (several Asterisk nodes): extensions hosted on another node,
	// and the dial string that reaches them there from the others (a
	// trunk between the nodes). See transfer.Config.Routes.
	Routes []RouteConfig `mapstructure:"routes"`
	Log    struct {
		Level string `mapstructure:"level"`
		// Format: "json" (production, one object per line), "console"
		// (readable) or "auto" (console on a terminal, else json).
		Format string `mapstructure:"format"`
	} `mapstructure:"log"`
	API struct {
		// Token is the bearer token every REST API request must carry;
		// the API is off without one. Never logged.
		Token string `mapstructure:"token"`
		// TokenFile names a file holding the token instead.
		TokenFile string `mapstructure:"token_file"`
	} `mapstructure:"api"`
	HTTP struct {
		// Listen is the address of /metrics, /healthz and /readyz;
		// loopback unless an operator opens it; "" turns them off.
		Listen string `mapstructure:"listen"`
		// Pprof serves Go's profiler under /debug/pprof/ on the same
		// address, to find where CPU and memory go under load.
		Pprof bool `mapstructure:"pprof"`
	} `mapstructure:"http"`
}

// defaults lists every key with its default value. Every key must be here:
// viper only maps an environment variable to a key it knows.
var defaults = map[string]any{
	"ari.url":                         "http://127.0.0.1:8088",
	"ari.username":                    "",
	"ari.password":                    "",
	"ari.password_file":               "",
	"ari.app":                         "transferd",
	"ari.ca_file":                     "",
	"ari.mode":                        "inbound",
	"ari.listen":                      "",
	"ari.listen_cert_file":            "",
	"ari.listen_key_file":             "",
	"ari.rest":                        "",
	"ari.node":                        "pbx",
	"ari.nodes":                       []string{},
	"routes":                          []any{},
	"cluster.nats_url":                "",
	"cluster.replica":                 "",
	"cluster.request_timeout":         "2s",
	"calls.dial_template":             transfer.DefaultDialTemplate,
	"calls.extension_pattern":         transfer.DefaultExtensionPattern,
	"calls.answer_timeout":            transfer.DefaultAnswerTimeout,
	"calls.no_answer":                 transfer.NoAnswerVoicemail,
	"transfer.no_answer":              transfer.NoAnswerVoicemail,
	"transfer.transferer_hangup":      transfer.TransfererHangupComplete,
	"transfer.handling":               transfer.HandlingAuto,
	"transfer.core_extensions":        "",
	"transfer.context":                transfer.DefaultTransferContext,
	"voicemail.context":               transfer.DefaultVoicemailContext,
	"voicemail.mailbox_context":       transfer.DefaultMailboxContext,
	"voicemail.code":                  transfer.DefaultVoicemailCode,
	"voicemail.digit_timeout":         transfer.DefaultDigitTimeout,
	"voicemail.fallback":              transfer.VoicemailFallbackTransferer,
	"voicemail.refer_only_extensions": "",
	"voicemail.info_dtmf_extensions":  "",
	"log.level":                       "info",
	"log.format":                      "auto",
	"http.listen":                     "127.0.0.1:9570",
	"http.pprof":                      false,
	"api.token":                       "",
	"api.token_file":                  "",
}

// flagKeys maps command-line flags to configuration keys.
var flagKeys = map[string]string{
	"ari-url":      "ari.url",
	"ari-username": "ari.username",
	"ari-app":      "ari.app",
	"log-level":    "log.level",
	"log-format":   "log.format",
}

// addConfigFlags declares the flags that set configuration keys.
func addConfigFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file")
	fs.String("ari-url", "", "Asterisk HTTP URL (ari.url)")
	fs.String("ari-username", "", "ARI user (ari.username); the password comes from the file or TRANSFERD_ARI_PASSWORD")
	fs.String("ari-app", "", "Stasis application name (ari.app)")
	fs.String("log-level", "", "debug, info, warn or error (log.level)")
	fs.String("log-format", "", "console or json (log.format)")
}

// loadConfig merges, from lowest to highest precedence, defaults, the
// YAML file named by --config, TRANSFERD_<SECTION>_<KEY> environment
// variables and flags, then validates the result.
//
// overrides (may be nil) win over everything: the sandbox's ARI address
// and credentials when transferd starts one (with --nodes, its listener
// and routes too).
func loadConfig(fs *pflag.FlagSet, overrides map[string]any) (*Config, error) {
	v := viper.New()
	for key, value := range defaults {
		v.SetDefault(key, value)
	}
	v.SetEnvPrefix("TRANSFERD")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	for flag, key := range flagKeys {
		if err := v.BindPFlag(key, fs.Lookup(flag)); err != nil {
			return nil, fmt.Errorf("flag --%s: %w", flag, err)
		}
	}
	if path, _ := fs.GetString("config"); path != "" {
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		// A misspelt key would otherwise be ignored silently.
		for _, key := range v.AllKeys() {
			if _, ok := defaults[key]; !ok {
				return nil, fmt.Errorf("config file %s: unknown key %q", path, key)
			}
		}
	}
	for key, value := range overrides {
		v.Set(key, value)
	}
	var cfg Config
	if err := v.Unmarshal(&cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// validateMode checks ari.mode and, in outbound mode, the listener's keys.
func (c *Config) validateMode() error {
	switch c.ARI.Mode {
	case "", "inbound":
		c.ARI.Mode = "inbound"
		if c.ARI.REST != "" && c.ARI.REST != "http" {
			return fmt.Errorf("ari.rest %q: inbound mode sends REST over HTTP; websocket is for outbound mode", c.ARI.REST)
		}
		c.ARI.REST = "http"
		return nil
	case "outbound":
		switch c.ARI.REST {
		case "":
			c.ARI.REST = "websocket"
		case "websocket", "http":
		default:
			return fmt.Errorf("ari.rest %q: must be websocket (REST over Asterisk's connection) or http (to ari.url)", c.ARI.REST)
		}
	default:
		return fmt.Errorf("ari.mode %q: must be inbound (transferd connects to Asterisk) or outbound (Asterisk 22.5+ connects to transferd)", c.ARI.Mode)
	}
	if _, _, err := net.SplitHostPort(c.ARI.Listen); err != nil {
		return fmt.Errorf("ari.listen %q: outbound mode needs the host:port Asterisk's websocket_client connects to (e.g. :8099): %w", c.ARI.Listen, err)
	}
	if (c.ARI.ListenCertFile == "") != (c.ARI.ListenKeyFile == "") {
		return errors.New("ari.listen_cert_file and ari.listen_key_file: set both (wss://) or neither (ws://)")
	}
	for _, n := range c.ARI.Nodes {
		if err := checkNodeName(n); err != nil {
			return fmt.Errorf("ari.nodes: %w", err)
		}
	}
	return nil
}

// nodeNamePattern: a node's name is a path segment of Asterisk's
// websocket_client uri, a metrics label and (for a cluster) part of a
// NATS subject, so it keeps to letters, digits, '-' and '_'.
var nodeNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

func checkNodeName(name string) error {
	if !nodeNamePattern.MatchString(name) {
		return fmt.Errorf("node name %q: use 1-63 letters, digits, '-' or '_', starting with a letter or digit", name)
	}
	return nil
}

// Validate checks the daemon's own keys; the engine's are checked by
// transfer.Config.Validate, called here so every error names its key.
func (c *Config) Validate() error {
	if err := c.validateMode(); err != nil {
		return err
	}
	if c.ARI.appCheckEvery == 0 {
		c.ARI.appCheckEvery = defaultAppCheckEvery
	}
	if c.ARI.Node == "" {
		c.ARI.Node = "pbx"
	}
	if err := checkNodeName(c.ARI.Node); err != nil {
		return fmt.Errorf("ari.node: %w", err)
	}
	if c.Cluster.Replica == "" {
		host, _ := os.Hostname()
		c.Cluster.Replica = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.Cluster.RequestTimeout == 0 {
		c.Cluster.RequestTimeout = 2 * time.Second
	}
	if c.Cluster.RequestTimeout < 100*time.Millisecond || c.Cluster.RequestTimeout > time.Minute {
		return fmt.Errorf("cluster.request_timeout %s: between 100ms and 1m", c.Cluster.RequestTimeout)
	}
	if u := c.Cluster.NATSURL; u != "" && !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
		return fmt.Errorf("cluster.nats_url %q: want nats://host:port (or tls://), comma-separated for several servers", u)
	}
	for i, r := range c.Routes {
		if err := checkNodeName(r.Node); err != nil {
			return fmt.Errorf("routes[%d].node: %w", i, err)
		}
	}
	u, err := url.Parse(c.ARI.URL)
	if c.ARI.REST == "http" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return fmt.Errorf("ari.url %q: must be an http:// or https:// URL of Asterisk's HTTP server", c.ARI.URL)
	}
	if err == nil && u.User != nil {
		return errors.New("ari.url: must not contain credentials; set ari.username and ari.password")
	}
	if c.ARI.Username == "" {
		return errors.New("ari.username: missing (set it in the file or TRANSFERD_ARI_USERNAME)")
	}
	if err := secretFromFile("ari.password", &c.ARI.Password, c.ARI.PasswordFile); err != nil {
		return err
	}
	if c.ARI.Password == "" {
		return errors.New("ari.password: missing (set it in the file, TRANSFERD_ARI_PASSWORD or ari.password_file)")
	}
	if c.ARI.CAFile != "" {
		pem, err := os.ReadFile(c.ARI.CAFile)
		if err != nil {
			return fmt.Errorf("ari.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("ari.ca_file %s: no PEM certificate in it", c.ARI.CAFile)
		}
		if c.ARI.REST != "http" || u.Scheme != "https" {
			return fmt.Errorf("ari.ca_file is set but ari.url %q is not https:// (or, in outbound mode, ari.rest is not http)", c.ARI.URL)
		}
		c.ARI.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if c.ARI.App == "" || strings.ContainsAny(c.ARI.App, " ,/?&") {
		return fmt.Errorf("ari.app %q: must be a non-empty Stasis application name", c.ARI.App)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level %q: must be debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "console", "json", "auto":
	default:
		return fmt.Errorf("log.format %q: must be console, json or auto", c.Log.Format)
	}
	if err := secretFromFile("api.token", &c.API.Token, c.API.TokenFile); err != nil {
		return err
	}
	if c.API.Token != "" && len(c.API.Token) < 16 {
		return errors.New("api.token: too short (use at least 16 random characters)")
	}
	if c.HTTP.Listen != "" {
		if _, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil || port == "" {
			return fmt.Errorf("http.listen %q: must be host:port (e.g. 127.0.0.1:9570) or empty to disable", c.HTTP.Listen)
		}
	}
	tc := c.Engine()
	return tc.Validate()
}

// Engine returns the engine's part of the configuration.
func (c *Config) Engine() transfer.Config {
	return transfer.Config{
		App:                 c.ARI.App,
		Node:                c.ARI.Node,
		DialTemplate:        c.Calls.DialTemplate,
		ExtensionPattern:    c.Calls.ExtensionPattern,
		AnswerTimeout:       c.Calls.AnswerTimeout,
		NoAnswer:            c.Calls.NoAnswer,
		TransferNoAnswer:    c.Transfer.NoAnswer,
		TransfererHangup:    c.Transfer.TransfererHangup,
		Handling:            c.Transfer.Handling,
		CoreExtensions:      c.Transfer.CoreExtensions,
		TransferContext:     c.Transfer.Context,
		VoicemailContext:    c.Voicemail.Context,
		MailboxContext:      c.Voicemail.MailboxContext,
		VoicemailCode:       c.Voicemail.Code,
		DigitTimeout:        c.Voicemail.DigitTimeout,
		VoicemailFallback:   c.Voicemail.Fallback,
		ReferOnlyExtensions: c.Voicemail.ReferOnlyExtensions,
		InfoDTMFExtensions:  c.Voicemail.InfoDTMFExtensions,
		Routes:              c.routes(),
	}
}

// RouteConfig is one entry of routes: extensions (a regular expression)
// hosted on node, reached from the other nodes with dial ("{exten}" is
// replaced by the extension).
type RouteConfig struct {
	Extensions string `mapstructure:"extensions"`
	Node       string `mapstructure:"node"`
	Dial       string `mapstructure:"dial"`
}

func (c *Config) routes() []transfer.Route {
	var out []transfer.Route
	for _, r := range c.Routes {
		out = append(out, transfer.Route{Extensions: r.Extensions, Node: r.Node, Dial: r.Dial})
	}
	return out
}

// secretFromFile fills the secret key from file (key+"_file"), when one is
// named: either the value or the file, never both, and never an empty file.
func secretFromFile(key string, value *string, file string) error {
	if file == "" {
		return nil
	}
	if *value != "" {
		return fmt.Errorf("%s_file: set either %s or %s_file, not both", key, key, key)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%s_file: %w", key, err)
	}
	*value = strings.TrimSpace(string(data))
	if *value == "" {
		return fmt.Errorf("%s_file %s: file is empty", key, file)
	}
	return nil
}
