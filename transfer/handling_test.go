package transfer

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

func TestParseAsteriskVersion(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want AsteriskVersion
		bad  bool
	}{
		{in: "22.10.1", want: AsteriskVersion{22, 10, 1, ""}},
		{in: "22.11.0-rc2", want: AsteriskVersion{22, 11, 0, "rc2"}},
		{in: "20.21.0", want: AsteriskVersion{20, 21, 0, ""}},
		{in: "22.10.1+dfsg+~cs6.17.60671434-1", want: AsteriskVersion{22, 10, 1, ""}},
		{in: "22.11.0-rc2+dfsg+~cs6.17.60671434-1", want: AsteriskVersion{22, 11, 0, "rc2"}},
		{in: "22.10.1~dfsg", want: AsteriskVersion{22, 10, 1, ""}},
		{in: "certified-22.8-cert1", bad: true},
		{in: "GIT-master-abc123", bad: true},
		{in: "22.x.1", bad: true},
		{in: "", bad: true},
	} {
		got, err := ParseAsteriskVersion(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseAsteriskVersion(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseAsteriskVersion(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// Given the configured handling and the Asterisk connected, when
// transferd decides, then auto never leaves a phone one REFER away from a
// known crash, and a forced choice is kept but explained.
func TestDecideHandlingByAsteriskVersion(t *testing.T) {
	for _, tt := range []struct {
		configured, version string
		versionErr          error
		wantMode            string
		reasonHas           []string
	}{
		// Asterisk 22.10.1 crashes on a REFER with Refer-Sub: false.
		{HandlingAuto, "22.10.1", nil, HandlingCore, []string{"asterisk#2021", "Refer-Sub: false", "22.11.0"}},
		{HandlingAuto, "22.10.1+dfsg+~cs6.17.60671434-1", nil, HandlingCore, []string{"Asterisk 22.10.1 has a known crash"}},
		{HandlingAuto, "22.3.0", nil, HandlingCore, []string{"asterisk#2021", "asterisk#1467", "22.7.0"}},
		{HandlingAuto, "22.7.0", nil, HandlingCore, []string{"asterisk#2021"}},
		{HandlingAuto, "23.0.0", nil, HandlingCore, []string{"asterisk#2021", "asterisk#1467"}},
		{HandlingAuto, "20.20.0", nil, HandlingCore, []string{"asterisk#2021"}},
		{HandlingAuto, "21.12.0", nil, HandlingCore, []string{"asterisk#2021"}}, // 21 got no fix
		// Fixed releases, and the release candidates cut after the fix.
		{HandlingAuto, "22.11.0", nil, HandlingARIOnly, []string{"no known ari-only crash"}},
		{HandlingAuto, "22.11.0-rc2", nil, HandlingARIOnly, []string{"22.11.0-rc2"}},
		{HandlingAuto, "23.5.0", nil, HandlingARIOnly, nil},
		{HandlingAuto, "20.21.0", nil, HandlingARIOnly, nil},
		{HandlingAuto, "24.0.0", nil, HandlingARIOnly, nil},
		// Before ari-only existed Asterisk performs REFERs itself anyway.
		{HandlingAuto, "22.2.0", nil, HandlingCore, []string{"no ari-only transfer handling"}},
		{HandlingAuto, "18.20.0", nil, HandlingCore, []string{"no ari-only transfer handling"}},
		// What cannot be told is not trusted.
		{HandlingAuto, "GIT-master-abc", nil, HandlingCore, []string{"GIT-master-abc", "transfer.handling: ari-only"}},
		{HandlingAuto, "", errors.New("ari: asterisk info: 403"), HandlingCore, []string{"could not read Asterisk's version", "403"}},
		// Forced choices win, with the risk spelled out.
		{HandlingARIOnly, "22.10.1", nil, HandlingARIOnly, []string{"known crash", "asterisk#2021", "transfer.handling: auto"}},
		{HandlingARIOnly, "22.11.0", nil, HandlingARIOnly, []string{"forced"}},
		{HandlingCore, "22.11.0", nil, HandlingCore, []string{"forced"}},
	} {
		d := DecideHandling(tt.configured, tt.version, tt.versionErr)
		if wantRisk := tt.configured == HandlingARIOnly && tt.version == "22.10.1"; d.CrashRisk != wantRisk {
			t.Errorf("DecideHandling(%s, %q).CrashRisk = %v, want %v", tt.configured, tt.version, d.CrashRisk, wantRisk)
		}
		if d.Mode != tt.wantMode {
			t.Errorf("DecideHandling(%s, %q) = %s (%s), want %s", tt.configured, tt.version, d.Mode, d.Reason, tt.wantMode)
		}
		for _, s := range tt.reasonHas {
			if !strings.Contains(d.Reason, s) {
				t.Errorf("DecideHandling(%s, %q).Reason = %q, want it to mention %q", tt.configured, tt.version, d.Reason, s)
			}
		}
	}
}

// The worked-around race and the open deadlock are reported as defects of
// every ari-only version, but neither makes auto give up ari-only.
func TestDecideHandlingListsDefectsItWorksAround(t *testing.T) {
	d := DecideHandling(HandlingAuto, "22.11.0", nil)
	var ids []string
	for _, def := range d.Defects {
		ids = append(ids, def.ID)
	}
	if got := strings.Join(ids, ","); got != "ari_state race,asterisk#2166" {
		t.Errorf("defects of 22.11.0 = %s, want the ari_state race and asterisk#2166", got)
	}
	if d.Mode != HandlingARIOnly {
		t.Errorf("mode = %s, want ari-only", d.Mode)
	}
}

// Given Asterisk 22.10.1 and the default handling, when a phone calls,
// then its channel is switched to core handling before anything else, and
// the channels transferd creates get core handling too.
func TestAutoHandlingOnACrashingAsteriskGivesEveryPhoneCoreHandling(t *testing.T) {
	f := newFakeAsterisk(t)
	f.version = "22.10.1"
	stop, e := runEngine(t, f, Config{}, nil, false)
	t.Cleanup(stop)
	_, b := talking(t, f)
	f.mu.Lock()
	got, callerVar := f.vars[b]["PJSIP_TRANSFER_HANDLING()"], f.vars["A"]["PJSIP_TRANSFER_HANDLING()"]
	context := f.vars["A"]["TRANSFER_CONTEXT"]
	f.mu.Unlock()
	if got != HandlingCore || callerVar != HandlingCore || context != DefaultTransferContext {
		t.Errorf("callee handling %q, caller's %q (TRANSFER_CONTEXT %q); want core for both", got, callerVar, context)
	}
	if d := e.Handling(); d.Mode != HandlingCore || d.Asterisk != "22.10.1" {
		t.Errorf("Handling() = %+v, want core on 22.10.1", d)
	}
}

// On an Asterisk without the crash the phones keep ari-only.
func TestAutoHandlingOnAFixedAsteriskKeepsARIOnly(t *testing.T) {
	f := startEngine(t, Config{})
	_, b := talking(t, f)
	f.mu.Lock()
	got, callerVar := f.vars[b]["PJSIP_TRANSFER_HANDLING()"], f.vars["A"]["PJSIP_TRANSFER_HANDLING()"]
	f.mu.Unlock()
	if got != HandlingARIOnly || callerVar != "" {
		t.Errorf("callee handling %q, caller's set to %q; want ari-only and the dialplan's left alone", got, callerVar)
	}
}

func TestHandlingMustBeAKnownValue(t *testing.T) {
	cfg := Config{Handling: "native"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "transfer.handling") {
		t.Fatalf("Validate() = %v, want an error naming transfer.handling", err)
	}
}

// A check cut short because the engine stops decides nothing (it used to
// log "core chosen" for a version it never read).
func TestCheckAsteriskWhileStoppingDecidesNothing(t *testing.T) {
	e, err := New(Config{}, newFakeAsterisk(t), Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d := e.CheckAsterisk(ctx); d.Mode != "" {
		t.Errorf("decided %q while stopping", d.Mode)
	}
	if d := e.Handling(); d.Mode != "" {
		t.Errorf("handling %q kept while stopping", d.Mode)
	}
	if d := e.CheckAsterisk(context.Background()); d.Mode != HandlingARIOnly {
		t.Errorf("then decided %q, want ari-only for the fake's 22.11", d.Mode)
	}
}
