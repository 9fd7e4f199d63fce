package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTransferKindTransfersTheShareEvenlyWithTheKindsInTurn(t *testing.T) {
	kinds := []string{kindBlind, kindAttended, kindStar8}
	var got []string
	for k := range 40 {
		if kind := TransferKind(k, 0.1, kinds); kind != "" {
			got = append(got, fmt.Sprintf("%d:%s", k, kind))
		}
	}
	want := []string{"9:blind", "19:attended", "29:star8", "39:blind"}
	if !slices.Equal(got, want) {
		t.Errorf("transferred calls = %v, want %v", got, want)
	}
	n := 0
	for k := range 1000 {
		if TransferKind(k, 0.25, []string{kindStar8}) == kindStar8 {
			n++
		}
	}
	if n != 250 {
		t.Errorf("share 0.25 of 1000 calls transferred %d, want 250", n)
	}
	for k := range 100 {
		if kind := TransferKind(k, 0, kinds); kind != "" {
			t.Fatalf("share 0: call %d transferred (%s)", k, kind)
		}
		if kind := TransferKind(k, 1, kinds); kind != kinds[k%3] {
			t.Fatalf("share 1: call %d is %q, want %q", k, kind, kinds[k%3])
		}
	}
}

func TestOfficeFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(flags) string
		wantErr string
	}{
		{"office defaults", []string{"-mix", "office"}, func(f flags) string {
			if !slices.Equal(f.levels, []int{20, 60, 120}) {
				return fmt.Sprintf("levels %v", f.levels)
			}
			if want := []string{"native", "native-features", "transferd", "transferd-native", "transferd-info", "transferd-core"}; !slices.Equal(f.configs, want) {
				return fmt.Sprintf("configs %v", f.configs)
			}
			if f.out != "internal/loadtest/office-mix.md" {
				return "out " + f.out
			}
			o := f.office
			if o.callDuration != time.Minute || o.window != time.Minute || o.share != 0.1 || !slices.Equal(o.kinds, transferKinds) {
				return fmt.Sprintf("office %+v", o)
			}
			return ""
		}, ""},
		{"office as given", []string{"-mix", "office", "-configs", "native,transferd", "-levels", "4", "-call-duration", "3m",
			"-window", "5m", "-transfer-share", "0.5", "-transfer-kinds", "star8,blind", "-out", "/tmp/o.md"}, func(f flags) string {
			o := f.office
			if !slices.Equal(f.levels, []int{4}) || !slices.Equal(f.configs, []string{"native", "transferd"}) || f.out != "/tmp/o.md" ||
				o.callDuration != 3*time.Minute || o.window != 5*time.Minute || o.share != 0.5 || !slices.Equal(o.kinds, []string{"star8", "blind"}) {
				return fmt.Sprintf("flags %+v", f)
			}
			return ""
		}, ""},
		{"the ramp keeps its defaults", nil, func(f flags) string {
			if f.mix != mixRamp || !slices.Equal(f.levels, []int{10, 25, 50, 100, 150, 200}) || f.out != "internal/loadtest/results.md" ||
				!slices.Equal(f.configs, []string{"transferd", "transferd-core", "native"}) {
				return fmt.Sprintf("flags %+v", f)
			}
			return ""
		}, ""},
		{"the ramp takes the new configurations", []string{"-configs", "native-features,transferd-native"}, func(f flags) string {
			if !slices.Equal(f.configs, []string{"native-features", "transferd-native"}) {
				return fmt.Sprintf("configs %v", f.configs)
			}
			return ""
		}, ""},
		{"unknown mix", []string{"-mix", "shop"}, nil, "-mix \"shop\""},
		{"office flag without office", []string{"-call-duration", "2m"}, nil, "only with -mix office"},
		{"short window", []string{"-mix", "office", "-call-duration", "2m", "-window", "1m"}, nil, "at least one call duration"},
		{"short call", []string{"-mix", "office", "-call-duration", "5s"}, nil, "-call-duration 5s: at least 10s"},
		{"too short for voicemail", []string{"-mix", "office", "-call-duration", "20s"}, nil, "at least 30s with star8"},
		{"short calls without star8", []string{"-mix", "office", "-call-duration", "20s", "-transfer-kinds", "blind,attended"}, func(f flags) string {
			if f.office.callDuration != 20*time.Second {
				return fmt.Sprintf("office %+v", f.office)
			}
			return ""
		}, ""},
		{"short calls without transfers", []string{"-mix", "office", "-call-duration", "20s", "-transfer-share", "0"}, func(f flags) string {
			if f.office.share != 0 {
				return fmt.Sprintf("office %+v", f.office)
			}
			return ""
		}, ""},
		{"share above 1", []string{"-mix", "office", "-transfer-share", "1.5"}, nil, "between 0 and 1"},
		{"unknown kind", []string{"-mix", "office", "-transfer-kinds", "blind,park"}, nil, `unknown kind "park"`},
		{"no soak in the office", []string{"-mix", "office", "-repeat-for", "5m"}, nil, "-repeat-for: not with -mix office"},
		{"no replicas in the office", []string{"-mix", "office", "-configs", "transferd-ha"}, nil, "transferd-ha is not measured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseFlags(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags(%q) error %v, want one containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tt.args, err)
			}
			if msg := tt.check(f); msg != "" {
				t.Errorf("parseFlags(%q): %s", tt.args, msg)
			}
		})
	}
}

func TestStar8GoesByREFERWhereNoPhoneKeysItInACall(t *testing.T) {
	for config, want := range map[string]bool{
		configNative: true, configNativeFeatures: true, configTransferdNative: true,
		configTransferd: false, configTransferdCore: false,
	} {
		if got := star8ByREFER(config); got != want {
			t.Errorf("star8ByREFER(%s) = %v, want %v", config, got, want)
		}
	}
}
