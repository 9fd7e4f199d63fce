package transfer

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"
)

// Adopting the calls a previous transferd left in Asterisk, the engine's
// side: reading what Asterisk holds (Snapshot), deciding which channels
// and bridges make up each call, and registering each call before any
// owner runs. How each adopted call rebuilds its state from what was found
// is the owner's side, adoption.go; Reconcile (reconcile.go) reads the same
// snapshot after a reconnect.

// Snapshot is what Asterisk holds for the application: its channels (those
// in Stasis) and its bridges.
type Snapshot struct {
	Channels []SnapshotChannel
	Bridges  []SnapshotBridge
	// RecordsReadOneByOne counts the channels whose records (records.go)
	// could not be read in one request, and were read variable by
	// variable: a slower takeover, told to the operator.
	RecordsReadOneByOne int
}

// SnapshotChannel is a channel in the application's Stasis.
type SnapshotChannel struct {
	ID, Name, State          string
	CallerNumber, CallerName string
	Exten                    string // the dialled extension (dialplan exten)
	// Call is the channel's TRANSFERD_CALL variable: the call it belongs to.
	Call string
	// Holding: the channel's phone has the call on hold (TRANSFERD_HOLD).
	Holding bool
	// VoicemailEntry: a *8 transfer was being keyed while this party was
	// held (TRANSFERD_VM, "<user's extension>:<digits>"); only for
	// channels outside a bridge.
	VoicemailEntry string
	// Refer: a REFER of this channel's phone being carried out
	// (TRANSFERD_REFER, encodeRefer).
	Refer string
	// RecordedExten: the extension of a leg transferd dialled on another
	// node, whose name is the trunk's (TRANSFERD_EXTEN).
	RecordedExten string
	// Dialled: a leg to another node transferd dialled
	// (TRANSFERD_DIALLED): Down, it waits for the other node's phone to
	// ring and is not dialled again.
	Dialled bool
}

// SnapshotBridge is a bridge of the application's.
type SnapshotBridge struct {
	ID, Name string
	Channels []string
}

// Adopt takes over the calls a previous transferd left in Asterisk (it was
// restarted, or killed): it finds them by the names and variables it gives
// what it creates, rebuilds each call's state and starts its owner. Calls
// keep their audio throughout; a transfer in progress is completed or
// reverted. Call Adopt before Run, once the event stream is subscribed (so
// nothing that happens meanwhile is missed).
func (e *Engine) Adopt(ctx context.Context) (adopted int, err error) {
	snap, err := e.snapshot(ctx)
	if err != nil {
		return 0, fmt.Errorf("transfer: adopt: list what Asterisk holds: %w", err)
	}
	byID := map[string]SnapshotChannel{}
	for _, ch := range snap.Channels {
		byID[ch.ID] = ch
	}
	claimed := map[string]bool{}
	var owners []*call
	// A channel belongs to the call whose bridge it is in, whatever its
	// variables say: after an attended transfer the colleague (named and
	// marked for the consultation call) talks in the transferee's bridge,
	// and the consultation's bridge may still exist. So every bridge's
	// members are claimed before any call takes the channels it marked
	// (claimed by the consultation, the colleague was hung up: load
	// harness, rolling upgrade, "A and C hear each other").
	ours := func(b SnapshotBridge) (string, bool) {
		callID, ok := strings.CutPrefix(b.Name, e.cfg.App+"/")
		return callID, ok && strings.HasPrefix(b.ID, e.cfg.App+"-")
	}
	for _, b := range snap.Bridges {
		if _, ok := ours(b); !ok {
			continue
		}
		for _, id := range b.Channels {
			if ch, ok := byID[id]; ok && ch.Call != departedCall {
				claimed[id] = true
			}
		}
	}
	for _, b := range snap.Bridges {
		callID, ok := ours(b)
		if !ok {
			continue // not ours
		}
		var members, others []SnapshotChannel
		for _, id := range b.Channels {
			if ch, ok := byID[id]; ok && ch.Call != departedCall {
				members = append(members, ch)
			}
		}
		for _, ch := range snap.Channels {
			if !claimed[ch.ID] && ch.Call != departedCall && (ch.Call == callID || strings.HasPrefix(ch.ID, e.cfg.App+"-"+callID+"-")) {
				others = append(others, ch)
				claimed[ch.ID] = true
			}
		}
		owners = append(owners, e.adoptCall(callID, b.ID, members, others))
		adopted++
	}
	// Every adopted call's ids are claimed before any owner runs: an owner
	// resuming an attended transfer (resumeRecordedRefers) must find the
	// consultation call.
	for _, c := range owners {
		e.startOwner(c)
	}
	// Callers whose arrival the previous transferd never handled (or whose
	// StasisStart arrived while nobody listened) are new calls.
	for _, ch := range snap.Channels {
		// Every channel of a call transferd handled carries the call's
		// TRANSFERD_CALL (a caller from its arrival, a created leg from
		// its creation); a caller nobody handled yet has none. (Not the
		// id's prefix: Asterisk's own ids start with its system name,
		// which may start with the app's name, as the sandbox's do.)
		// A caller whose call the predecessor had just begun to set up
		// (its TRANSFERD_CALL set, no bridge yet) is a new call too: not
		// answered, not a leg transferd created, not departing.
		settingUp := ch.Call != "" && ch.Call != departedCall && ch.State != "Up" && !strings.HasPrefix(ch.ID, e.cfg.App+"-"+ch.Call+"-")
		if claimed[ch.ID] || (ch.Call != "" && !settingUp) {
			if !claimed[ch.ID] {
				// (Or a transferer's leg whose phone had not hung up
				// yet: letPhoneHangUp.)
				e.log.Info("adopt: hanging up a leg of a call that is gone", zap.String("channel", ch.ID))
				e.hangUpLeftover(ctx, ch.ID)
			}
			continue
		}
		e.log.Info("adopt: a caller waiting in Stasis is handled as a new call", zap.String("channel", ch.ID), zap.String("dialled", ch.Exten))
		// (Its Stasis arguments are not in the snapshot: a wait the
		// dialplan bounded is cleared in any case.)
		e.startCall(callArrived{channelID: ch.ID, channelName: ch.Name, callerExten: ch.CallerNumber, callerName: ch.CallerName, dialled: ch.Exten,
			clearTimeout: true})
		adopted++
	}
	return adopted, nil
}

// snapshot reads what Asterisk holds, and tells the operator when the
// channels' records took a request per variable.
func (e *Engine) snapshot(ctx context.Context) (Snapshot, error) {
	snap, err := e.ast.Snapshot(ctx)
	if err == nil && snap.RecordsReadOneByOne > 0 {
		e.log.Warn("reading transferd's records on channels in one request (the EVAL function) failed; "+
			"they were read one variable at a time, which slows a takeover: load func_strings.so in Asterisk's modules.conf",
			zap.Int("channels", snap.RecordsReadOneByOne))
	}
	return snap, err
}

// hangUpLeftover hangs up a channel left by a call that is over (no call
// owns it; Adopt and Reconcile find them).
func (e *Engine) hangUpLeftover(ctx context.Context, id string) {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.CommandTimeout)
	defer cancel()
	if err := e.ast.Hangup(cctx, id, "normal"); err != nil && !isGone(err) {
		e.log.Warn("hanging up a channel of a call that is over failed", zap.String("channel", id), zap.Error(err))
	}
}

// adoptCall registers a call found in Asterisk and feeds it what was found;
// its owner, once started, decides what the call is and repairs it.
func (e *Engine) adoptCall(callID, bridge string, members, others []SnapshotChannel) *call {
	c := e.newCall(callID, e.log.With(zap.String("call", callID), zap.Bool("adopted", true)))
	e.mu.Lock()
	e.calls[c] = struct{}{}
	e.mu.Unlock()
	e.claim(bridge, c)
	for _, ch := range append(append([]SnapshotChannel(nil), members...), others...) {
		e.claim(ch.ID, c)
		// Indexed before any owner runs: a call adopted first must find
		// this one (a transferer hanging up during its consultation).
		e.noteExten(c.adoptedExten(ch), c)
	}
	c.box.put(adoption{bridge: bridge, members: members, others: others})
	return c
}
