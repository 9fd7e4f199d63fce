package transfer

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// Which transfer handling phones get: what decides it (the connected
// Asterisk's version and its known defects, DecideHandling) and how the
// engine applies it (CheckAsterisk for the connected Asterisk, handlingOf
// for each phone).

// Transfer handling: who performs a phone's REFER (PJSIP_TRANSFER_HANDLING()
// on its channel). Config.Handling chooses.
const (
	// HandlingAuto uses ari-only where the connected Asterisk has no known
	// ari-only defect that a phone can turn into a crash, core otherwise
	// (the default).
	HandlingAuto = "auto"
	// HandlingARIOnly: Asterisk raises ChannelTransfer and transferd
	// performs the transfer (Asterisk 22.3+, 21.8+, 20.13+).
	HandlingARIOnly = "ari-only"
	// HandlingCore: Asterisk performs the transfer and transferd follows.
	HandlingCore = "core"
)

// AsteriskVersion is a parsed Asterisk version ("22.11.0", "22.11.0-rc2").
type AsteriskVersion struct {
	Major, Minor, Patch int
	// Pre is a release candidate's suffix ("rc2"), "" for a release.
	Pre string
}

// ParseAsteriskVersion reads the version ARI's GET /asterisk/info reports
// (system.version). It accepts "22.10.1", "22.11.0-rc2" and a packager's
// suffix ("22.10.1+dfsg+~cs6.17.60671434-1", as Debian's reports). Certified ("certified-22.8-cert1")
// and development builds ("GIT-master-…") are not recognised: their
// defects cannot be told from the version.
func ParseAsteriskVersion(s string) (AsteriskVersion, error) {
	var v AsteriskVersion
	// A distribution's packaging suffix goes: Debian's Asterisk reports
	// its package version, "22.11.0-rc2+dfsg+~cs6.17.60671434-1".
	upstream := s
	if i := strings.IndexAny(upstream, "+~"); i >= 0 {
		upstream = upstream[:i]
	}
	nums, pre, _ := strings.Cut(upstream, "-")
	parts := strings.Split(nums, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("asterisk version %q: want major.minor.patch", s)
	}
	fields := []*int{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		// Digits, then anything a packager appended ("1~dfsg").
		end := 0
		for end < len(p) && p[end] >= '0' && p[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(p[:end])
		if err != nil || (end < len(p) && i < 2) {
			return v, fmt.Errorf("asterisk version %q: want major.minor.patch", s)
		}
		*fields[i] = n
	}
	v.Pre = pre
	return v, nil
}

func (v AsteriskVersion) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// atLeast reports whether v is release major.minor.patch or later. A
// release candidate counts as its release: Asterisk's release candidates
// are cut from the branch the fix was merged into beforehand (22.11.0-rc1
// and -rc2 carry asterisk#2022, checked in the release tags).
func (v AsteriskVersion) atLeast(major, minor, patch int) bool {
	if v.Major != major {
		return v.Major > major
	}
	if v.Minor != minor {
		return v.Minor > minor
	}
	return v.Patch >= patch
}

// release is a version on one of Asterisk's branches.
type release struct{ major, minor, patch int }

// inRange reports whether v lies on a branch listed in from and, on that
// branch, from its from release (inclusive) up to its fixed release
// (exclusive; no entry: never fixed on that branch).
func (v AsteriskVersion) inRange(from, fixed []release) bool {
	for _, f := range from {
		if f.major != v.Major || !v.atLeast(f.major, f.minor, f.patch) {
			continue
		}
		for _, x := range fixed {
			if x.major == v.Major && v.atLeast(x.major, x.minor, x.patch) {
				return false
			}
		}
		return true
	}
	return false
}

// ariOnlySince lists the first release of each branch with ari-only
// transfer handling (PJSIP_TRANSFER_HANDLING, ChannelTransfer,
// POST /channels/{id}/transfer_progress).
var ariOnlySince = []release{{20, 13, 0}, {21, 8, 0}, {22, 3, 0}, {23, 0, 0}}

// Defect is a known ari-only defect of some Asterisk versions.
type Defect struct {
	// ID names it in Asterisk's issue tracker ("asterisk#2021").
	ID string
	// What a user would see, briefly.
	Summary string
	// Crash: one phone's request can crash Asterisk, and transferd cannot
	// prevent it in ari-only mode. HandlingAuto uses core handling then.
	Crash bool
	// WorkedAround: transferd avoids it itself (how, in Summary).
	WorkedAround bool

	from, fixed []release
}

// FixedIn lists the releases that fix d ("20.21.0, 22.11.0, 23.5.0"), or
// says it is open.
func (d Defect) FixedIn() string {
	if len(d.fixed) == 0 {
		return "no release yet"
	}
	var s []string
	for _, r := range d.fixed {
		s = append(s, fmt.Sprintf("%d.%d.%d", r.major, r.minor, r.patch))
	}
	return strings.Join(s, ", ")
}

// knownDefects are the ari-only defects transferd knows, by version, from
// Asterisk's issue tracker and release tags (checked 2026-12-01): the
// releases that first carry each fix; a release candidate of a fixing
// release carries it too (22.11.0-rc1 and -rc2 have asterisk#2022). A
// defect still open upstream has no fixed releases.
var knownDefects = []Defect{
	{
		ID: "asterisk#2021", Crash: true,
		Summary: "a REFER carrying Refer-Sub: false (RFC 4488) crashes Asterisk",
		from:    ariOnlySince,
		fixed:   []release{{20, 21, 0}, {22, 11, 0}, {23, 5, 0}},
	},
	{
		ID: "asterisk#1467", Crash: true,
		Summary: "reporting a blind transfer's progress crashes Asterisk when the REFER's progress is torn down " +
			"(a blind transfer has no protocol_id)",
		from:  ariOnlySince,
		fixed: []release{{20, 17, 0}, {21, 12, 0}, {22, 7, 0}, {23, 1, 0}},
	},
	{
		ID: "ari_state race", WorkedAround: true,
		Summary: "a transfer_progress sent right after ChannelTransfer can crash Asterisk " +
			"(res_pjsip_refer stores ari_state after raising the event); transferd waits until " +
			"Asterisk has taken the REFER in before it reports progress",
		from: ariOnlySince,
	},
	{
		ID: "asterisk#2166",
		Summary: "a PJSIP deadlock reported once in about 179,000 ari-only attended transfers " +
			"on 22.10.1 (open upstream; not something a phone can trigger at will)",
		from: ariOnlySince,
	},
}

// HandlingDecision is the transfer handling transferd uses with the
// Asterisk it is connected to, and why.
type HandlingDecision struct {
	// Configured is Config.Handling (HandlingAuto, HandlingARIOnly, HandlingCore).
	Configured string
	// Mode is what phones get: HandlingARIOnly or HandlingCore
	// (Config.CoreExtensions still sends their phones to core).
	Mode string
	// Asterisk is the version Asterisk reported ("" if unknown).
	Asterisk string
	// Reason explains Mode in a sentence for the operator.
	Reason string
	// Defects are the known ari-only defects of that version.
	Defects []Defect
	// CrashRisk: ari-only is in use (forced) although a known defect of
	// this version lets a phone crash Asterisk.
	CrashRisk bool
}

// String is the decision as an operator reads it in /readyz and logs.
func (d HandlingDecision) String() string {
	return fmt.Sprintf("transfer handling %s (configured %s): %s", d.Mode, d.Configured, d.Reason)
}

// DecideHandling chooses the transfer handling for configured (one of the
// Handling* values) and the version Asterisk reports (versionErr when it
// could not be read). It is pure: the engine calls it at every connect.
func DecideHandling(configured, version string, versionErr error) HandlingDecision {
	d := HandlingDecision{Configured: configured, Asterisk: version}
	v, parseErr := ParseAsteriskVersion(version)
	if versionErr != nil {
		parseErr = fmt.Errorf("could not read Asterisk's version: %w", versionErr)
	}
	var crashes []string
	if parseErr == nil {
		for _, def := range knownDefects {
			if v.inRange(def.from, def.fixed) {
				d.Defects = append(d.Defects, def)
				if def.Crash && !def.WorkedAround {
					crashes = append(crashes, def.ID+": "+def.Summary+", fixed in "+def.FixedIn())
				}
			}
		}
	}
	// (A branch newer than any listed has it too.)
	hasARIOnly := parseErr == nil && (v.inRange(ariOnlySince, nil) || v.Major > ariOnlySince[len(ariOnlySince)-1].major)
	switch configured {
	case HandlingCore:
		d.Mode, d.Reason = HandlingCore, "forced by transfer.handling"
	case HandlingARIOnly:
		d.Mode = HandlingARIOnly
		switch {
		case parseErr != nil:
			d.Reason = "forced by transfer.handling; " + parseErr.Error() + ", so its defects are unknown"
		case !hasARIOnly:
			d.Reason = fmt.Sprintf("forced by transfer.handling, but Asterisk %s has no ari-only transfer handling "+
				"(22.3.0, 21.8.0, 20.13.0 and later have): Asterisk will perform REFERs itself", v)
		case len(crashes) > 0:
			d.CrashRisk = true
			d.Reason = fmt.Sprintf("forced by transfer.handling although Asterisk %s has a known crash in ari-only mode (%s); "+
				"upgrade Asterisk or set transfer.handling: auto", v, strings.Join(crashes, "; "))
		default:
			d.Reason = fmt.Sprintf("forced by transfer.handling; Asterisk %s has no known ari-only crash", v)
		}
	default: // HandlingAuto
		switch {
		case parseErr != nil:
			d.Mode, d.Reason = HandlingCore, parseErr.Error()+": using Asterisk's own transfer handling, "+
				"which no known phone request crashes (set transfer.handling: ari-only to override)"
		case !hasARIOnly:
			d.Mode, d.Reason = HandlingCore, fmt.Sprintf("Asterisk %s has no ari-only transfer handling "+
				"(22.3.0, 21.8.0, 20.13.0 and later have)", v)
		case len(crashes) > 0:
			d.Mode, d.Reason = HandlingCore, fmt.Sprintf("Asterisk %s has a known crash in ari-only mode (%s); "+
				"using Asterisk's own transfer handling until Asterisk is upgraded", v, strings.Join(crashes, "; "))
		default:
			d.Mode, d.Reason = HandlingARIOnly, fmt.Sprintf("Asterisk %s has no known ari-only crash", v)
		}
	}
	return d
}

// CheckAsterisk reads the connected Asterisk's version and decides the
// transfer handling phones get from now on (DecideHandling), logging the
// decision when it is new or changed. Run calls it when it starts (unless
// the caller did) and after every reconnect.
func (e *Engine) CheckAsterisk(ctx context.Context) HandlingDecision {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.CommandTimeout)
	version, err := e.ast.Version(cctx)
	cancel()
	if ctx.Err() != nil {
		// Stopping: an unread version says nothing about Asterisk (it
		// was logged as "core chosen", misleadingly).
		if old := e.decision.Load(); old != nil {
			return *old
		}
		return HandlingDecision{}
	}
	d := DecideHandling(e.cfg.Handling, version, err)
	old := e.decision.Swap(&d)
	if old != nil && old.Mode == d.Mode && old.Asterisk == d.Asterisk {
		return d
	}
	var defects []string
	for _, def := range d.Defects {
		defects = append(defects, def.ID+": "+def.Summary)
	}
	fields := []zap.Field{zap.String("handling", d.Mode), zap.String("configured", d.Configured),
		zap.String("asterisk", d.Asterisk), zap.String("reason", d.Reason), zap.Strings("known_defects", defects)}
	switch {
	case d.CrashRisk:
		e.log.Error("transfer handling chosen: ari-only on an Asterisk that a phone can crash", fields...)
	case d.Mode == HandlingCore && d.Configured == HandlingAuto:
		e.log.Warn("transfer handling chosen: Asterisk's own (core)", fields...)
	default:
		e.log.Info("transfer handling chosen", fields...)
	}
	return d
}

// Handling returns the transfer handling in use and why (the zero value
// before the first CheckAsterisk).
func (e *Engine) Handling() HandlingDecision {
	if d := e.decision.Load(); d != nil {
		return *d
	}
	return HandlingDecision{}
}

// handlingOf returns the transfer handling of the phone with extension
// exten: core for Config.CoreExtensions, else the decision for the
// connected Asterisk; before there is one, core unless ari-only is forced
// (no phone is left one REFER away from a crash).
func (e *Engine) handlingOf(exten string) string {
	if e.cfg.coreRE != nil && e.cfg.coreRE.MatchString(exten) {
		return HandlingCore
	}
	if d := e.decision.Load(); d != nil {
		return d.Mode
	}
	if e.cfg.Handling == HandlingARIOnly {
		return HandlingARIOnly
	}
	return HandlingCore
}
