package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestLoadConfigRejectsBadInputWithTheKeyItConcerns(t *testing.T) {
	good := "ari:\n  url: http://127.0.0.1:8088\n  username: transferd\n  password: s3cret\n"
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{name: "missing password", file: "ari:\n  username: u\n", wantErr: "ari.password: missing"},
		{name: "missing username", file: "ari:\n  password: p\n", wantErr: "ari.username: missing"},
		{name: "url without scheme", file: good + "", env: map[string]string{"TRANSFERD_ARI_URL": "pbx:8088"}, wantErr: `ari.url "pbx:8088"`},
		{name: "credentials in url", file: good, args: []string{"--ari-url", "http://u:p@pbx:8088"}, wantErr: "ari.url: must not contain credentials"},
		{name: "misspelt key", file: good + "calls:\n  answer_timout: 10s\n", wantErr: `unknown key "calls.answer_timout"`},
		{name: "bad yaml", file: "ari: [unclosed\n", wantErr: "config file"},
		{name: "REST over the websocket in inbound mode", file: good, env: map[string]string{"TRANSFERD_ARI_REST": "websocket"},
			wantErr: `ari.rest "websocket": inbound mode sends REST over HTTP`},
		{name: "unknown REST transport", file: good, env: map[string]string{"TRANSFERD_ARI_MODE": "outbound", "TRANSFERD_ARI_LISTEN": ":8099", "TRANSFERD_ARI_REST": "tcp"},
			wantErr: `ari.rest "tcp": must be websocket`},
		{name: "REST over HTTP without a URL", file: good, env: map[string]string{"TRANSFERD_ARI_MODE": "outbound", "TRANSFERD_ARI_LISTEN": ":8099", "TRANSFERD_ARI_REST": "http", "TRANSFERD_ARI_URL": "pbx"},
			wantErr: `ari.url "pbx": must be an http:// or https:// URL`},
		{name: "bad duration", file: good + "calls:\n  answer_timeout: soon\n", wantErr: "answer_timeout"},
		{name: "too short ring", file: good + "calls:\n  answer_timeout: 10ms\n", wantErr: "calls.answer_timeout 10ms: must be at least 1s"},
		{name: "bad no-answer", file: good + "calls:\n  no_answer: forward\n", wantErr: `calls.no_answer "forward"`},
		{name: "bad transfer no-answer", file: good + "transfer:\n  no_answer: hangup\n", wantErr: `transfer.no_answer "hangup"`},
		{name: "bad transfer handling", file: good, env: map[string]string{"TRANSFERD_TRANSFER_HANDLING": "native"}, wantErr: `transfer.handling "native": must be "auto", "ari-only" or "core"`},
		{name: "bad pattern", file: good + "calls:\n  extension_pattern: \"[\"\n", wantErr: "calls.extension_pattern"},
		{name: "template without exten", file: good + "calls:\n  dial_template: PJSIP/100\n", wantErr: "calls.dial_template"},
		{name: "bad log level", file: good, args: []string{"--log-level", "loud"}, wantErr: `log.level "loud"`},
		{name: "bad app", file: good, env: map[string]string{"TRANSFERD_ARI_APP": "a b"}, wantErr: `ari.app "a b"`},
		{name: "password and password file", file: good + "  password_file: /run/secrets/ari\n", wantErr: "ari.password_file: set either"},
		{name: "missing password file", file: "ari:\n  username: u\n  password_file: /nonexistent/secret\n", wantErr: "ari.password_file: open /nonexistent/secret"},
		{name: "bad listen address", file: good + "http:\n  listen: loopback\n", wantErr: `http.listen "loopback"`},
		{name: "bad log format", file: good + "log:\n  format: xml\n", wantErr: `log.format "xml"`},
		{name: "bad voicemail code", file: good + "voicemail:\n  code: \"*x\"\n", wantErr: `voicemail.code "*x"`},
		{name: "bad digit timeout", file: good + "voicemail:\n  digit_timeout: 5m\n", wantErr: "voicemail.digit_timeout 5m0s"},
		{name: "bad transferer hangup", file: good + "transfer:\n  transferer_hangup: drop\n", wantErr: `transfer.transferer_hangup "drop"`},
		{name: "missing CA file", file: good + "  ca_file: /nonexistent/ca.pem\n", wantErr: "ari.ca_file: open /nonexistent/ca.pem"},
		{name: "bad node name", file: good + "  node: \"pbx/1\"\n", wantErr: `ari.node: node name "pbx/1": use 1-63 letters, digits, '-' or '_'`},
		{name: "bad name in nodes", file: good + "  mode: outbound\n  listen: \":8099\"\n  nodes: [node1, \"node.2\"]\n", wantErr: `ari.nodes: node name "node.2"`},
		{name: "route without exten", file: good + "routes:\n  - {extensions: \"^2..$\", node: node2, dial: PJSIP/node2}\n", wantErr: `routes[0]: dial "PJSIP/node2": must contain {exten}`},
		{name: "missing file", args: []string{"--config", "/nonexistent/transferd.yaml"}, wantErr: "config file /nonexistent/transferd.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := tt.args
			if tt.file != "" {
				path := filepath.Join(t.TempDir(), "transferd.yaml")
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append([]string{"--config", path}, args...)
			}
			fs := pflag.NewFlagSet("transferd", pflag.ContinueOnError)
			addConfigFlags(fs)
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(fs, nil)
			if err == nil {
				t.Fatalf("loadConfig accepted it, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
}

func TestLoadConfigPrecedenceFlagsOverEnvOverFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transferd.yaml")
	file := "ari:\n  url: http://file:8088\n  username: fileuser\n  password: filepw\n  app: fileapp\ncalls:\n  answer_timeout: 12s\ntransfer:\n  no_answer: recall\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRANSFERD_ARI_URL", "http://env:8088")
	t.Setenv("TRANSFERD_ARI_PASSWORD", "envpw")
	t.Setenv("TRANSFERD_ARI_APP", "envapp")
	fs := pflag.NewFlagSet("transferd", pflag.ContinueOnError)
	addConfigFlags(fs)
	if err := fs.Parse([]string{"--config", path, "--ari-app", "flagapp"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{cfg.ARI.URL, cfg.ARI.Username, cfg.ARI.Password, cfg.ARI.App, cfg.Transfer.NoAnswer, cfg.Calls.NoAnswer}
	want := []string{"http://env:8088", "fileuser", "envpw", "flagapp", "recall", "voicemail"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("config = %v, want %v", got, want)
	}
	if cfg.Calls.AnswerTimeout != 12*time.Second {
		t.Errorf("answer timeout = %s, want 12s from the file", cfg.Calls.AnswerTimeout)
	}
}

// The example file documents every key with its default: it must load,
// and must name every key transferd knows.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("transferd.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("transferd", pflag.ContinueOnError)
	addConfigFlags(fs)
	if err := fs.Parse([]string{"--config", "transferd.example.yaml"}); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(fs, nil); err != nil {
		t.Fatalf("the example config does not load: %v", err)
	}
	text := string(data)
	for key := range defaults {
		section, name, nested := strings.Cut(key, ".")
		if !strings.Contains(text, "\n"+section+":") || (nested && !strings.Contains(text, "\n  "+name+":")) {
			t.Errorf("key %s is not documented in transferd.example.yaml", key)
		}
	}
}

// `transferd config check` is what an administrator runs: it prints the
// key and the problem, or a summary without the password.
func TestConfigCheckCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "ari:\n  username: transferd\n  password: s3cret-value\n")
	var out strings.Builder
	if err := run(context.Background(), []string{"config", "check", "--config", good}, &out); err != nil {
		t.Fatalf("good file refused: %v", err)
	}
	if !strings.Contains(out.String(), "config ok") || strings.Contains(out.String(), "s3cret-value") {
		t.Errorf("config check output %q: want a summary without the password", out.String())
	}
	for _, tt := range []struct{ file, want string }{
		{"ari:\n  username: u\n  password: p\n  pasword: q\n", `unknown key "ari.pasword"`},
		{"ari:\n  username: u\n  password: p\ncalls:\n  answer_timeout: forever\n", "answer_timeout"},
		{"ari:\n  username: u\n  password: p\ncalls:\n  dial_template: PJSIP/102\n", "calls.dial_template"},
		{"ari:\n  username: u\n", "ari.password: missing"},
	} {
		err := run(context.Background(), []string{"config", "check", "--config", write("bad.yaml", tt.file)}, &out)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config check of %q: %v, want an error naming %q", tt.file, err, tt.want)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks a password: %v", err)
		}
	}
}

// --help shows every way to run transferd, config check included, and
// exits 0 (it used to end with "pflag: help requested", status 1).
func TestHelpListsTheCommands(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"--help"}, &out); err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"config check", "version", "--sandbox", "--replicas", "--nodes", "--ari-url", "TRANSFERD_ARI_URL"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %q:\n%s", want, out.String())
		}
	}
}

// transferd version says what it is and which Asterisk versions it was
// tested with.
func TestVersionNamesTheTestedAsterisks(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, &out); err != nil {
		t.Fatalf("version: %v", err)
	}
	if !strings.HasPrefix(out.String(), "transferd ") || !strings.Contains(out.String(), runtime.Version()) {
		t.Errorf("version: %q, want transferd's version and the Go it was built with", out.String())
	}
	for _, v := range testedAsterisk {
		if !strings.Contains(out.String(), "Asterisk") || !strings.Contains(out.String(), v) {
			t.Errorf("version does not name tested Asterisk %s: %q", v, out.String())
		}
	}
}
