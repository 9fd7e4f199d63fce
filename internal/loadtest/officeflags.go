package main

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The workloads (-mix).
const (
	mixRamp   = "ramp"   // call scenarios that each go through a blind and an attended transfer
	mixOffice = "office" // long calls at a steady level, a share of them transferred (issue 23)
)

// The transfers of the office mix (-transfer-kinds).
const (
	kindBlind    = "blind"    // REFER to the third phone
	kindAttended = "attended" // consult the third phone, then REFER with Replaces
	kindStar8    = "star8"    // *8 and the third phone's mailbox: the caller lands in voicemail
)

var transferKinds = []string{kindBlind, kindAttended, kindStar8}

// Defaults of the office mix where they differ from the ramp's.
const (
	officeLevels  = "20,60,120"
	officeConfigs = configNative + "," + configNativeFeatures + "," + configTransferd + "," + configTransferdNative + "," + configTransferdInfo + "," + configTransferdCore
)

var officeOut = filepath.Join("internal", "loadtest", "office-mix.md")

// minCallDuration leaves a call room for its checks and a transfer a
// third of the way in (a transfer and its audio checks take a few
// seconds, up to a step timeout each when something is slow).
const minCallDuration = 10 * time.Second

// minVoicemailCall leaves a caller sent to voicemail a third of the way
// into the call time for the greeting ("the person at extension ... is
// unavailable", instructions, beep: about 12 s after a *8 keyed in ~2 s)
// and a message of a few seconds: with 20 s calls the caller hung up
// during the greeting and no message was left to check.
const minVoicemailCall = 30 * time.Second

// officeSettings are the office mix's flags.
type officeSettings struct {
	callDuration time.Duration // each call, from its answer to the caller's BYE
	window       time.Duration // the measured steady window of each level
	share        float64       // of the calls, transferred during the call
	kinds        []string      // the transfers' kinds, in turn
	perf         bool          // profile Asterisk over each window (-perf-asterisk)
}

// newOfficeSettings checks the office flags; window 0 means one call
// duration.
func newOfficeSettings(callDuration, window time.Duration, share float64, kinds string) (officeSettings, error) {
	o := officeSettings{callDuration: callDuration, window: window, share: share}
	if callDuration < minCallDuration {
		return o, fmt.Errorf("-call-duration %s: at least %s", callDuration, minCallDuration)
	}
	if o.window == 0 {
		o.window = callDuration
	}
	// A shorter window would weigh the calls' starts and transfers (both
	// early in a call) more than their long middles.
	if o.window < callDuration {
		return o, fmt.Errorf("-window %s: at least one call duration (%s)", o.window, callDuration)
	}
	if share < 0 || share > 1 || math.IsNaN(share) {
		return o, fmt.Errorf("-transfer-share %v: between 0 and 1", share)
	}
	var err error
	if o.kinds, err = ParseKinds(kinds); err != nil {
		return o, err
	}
	if share > 0 && slices.Contains(o.kinds, kindStar8) && callDuration < minVoicemailCall {
		return o, fmt.Errorf("-call-duration %s: at least %s with %s transfers (the caller must outlast the voicemail greeting and leave a message)", callDuration, minVoicemailCall, kindStar8)
	}
	return o, nil
}

// ParseKinds reads -transfer-kinds: a comma-separated list of blind,
// attended and star8 (repeats allowed: "blind,blind,star8" weighs them).
func ParseKinds(s string) ([]string, error) {
	var kinds []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(transferKinds, k) {
			return nil, fmt.Errorf("-transfer-kinds: unknown kind %q (want %s)", k, strings.Join(transferKinds, ", "))
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}

// TransferKind says whether the k-th call of a level (from 0, in the
// order the calls start) is transferred, and how ("" for not): exactly
// share of the calls, evenly spread (the k-th is transferred when
// ⌊(k+1)·share⌋ passes a whole number), the kinds taken in turn.
func TransferKind(k int, share float64, kinds []string) string {
	before, after := math.Floor(float64(k)*share), math.Floor(float64(k+1)*share)
	if after == before || len(kinds) == 0 {
		return ""
	}
	return kinds[int(after-1)%len(kinds)]
}

// star8ByREFER says how a configuration's phones transfer a caller to
// voicemail: where no phone may key *8 during a call (transferd-native),
// or Asterisk alone serves the call (native, native-features: the
// sandbox's *8<mailbox> extension), the user presses Tran and dials
// *8<mailbox>, a blind REFER; elsewhere the user keys *8<mailbox> in the
// call (RFC 4733) and hangs up.
func star8ByREFER(config string) bool {
	return config == configTransferdNative || config == configNative || config == configNativeFeatures
}
