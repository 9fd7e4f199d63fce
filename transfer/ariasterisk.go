package transfer

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transferd/transferd/ari"
)

// ARIAsterisk is the engine's Asterisk on a real ARI client.
type ARIAsterisk struct {
	c   *ari.Client
	app string
}

// NewARIAsterisk adapts an ari client of the Stasis application app.
func NewARIAsterisk(c *ari.Client, app string) *ARIAsterisk { return &ARIAsterisk{c: c, app: app} }

var _ Asterisk = (*ARIAsterisk)(nil)

func (a *ARIAsterisk) CreateChannel(ctx context.Context, s ChannelSpec) error {
	_, err := a.c.CreateChannel(ctx, ari.ChannelCreate{ChannelID: s.ID, Endpoint: s.Endpoint, Originator: s.Originator, Variables: s.Variables})
	return err
}

func (a *ARIAsterisk) EndpointExists(ctx context.Context, dialString string) (bool, error) {
	tech, resource, ok := strings.Cut(dialString, "/")
	if !ok {
		return false, nil
	}
	// chan_pjsip: "PJSIP/102@node2" dials user 102 through endpoint
	// node2 (a trunk: the extension lives on the other side, which says
	// itself whether it exists); "PJSIP/node2/sip:102@host" names
	// endpoint node2 too.
	if user, endpoint, ok := strings.Cut(resource, "@"); ok && !strings.Contains(user, "/") {
		resource = endpoint
	}
	if i := strings.IndexByte(resource, '/'); i >= 0 {
		resource = resource[:i]
	}
	_, err := a.c.Endpoint(ctx, tech, resource)
	if errors.Is(err, ari.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (a *ARIAsterisk) Dial(ctx context.Context, id, caller string, timeout time.Duration) error {
	return a.c.Dial(ctx, id, caller, timeout)
}
func (a *ARIAsterisk) Answer(ctx context.Context, id string) error { return a.c.Answer(ctx, id) }
func (a *ARIAsterisk) Ring(ctx context.Context, id string) error   { return a.c.Ring(ctx, id) }
func (a *ARIAsterisk) Hangup(ctx context.Context, id, reason string) error {
	return a.c.Hangup(ctx, id, reason)
}
func (a *ARIAsterisk) Continue(ctx context.Context, id, dialplanContext, exten string) error {
	return a.c.Continue(ctx, id, dialplanContext, exten, 1)
}
func (a *ARIAsterisk) Version(ctx context.Context) (string, error) {
	info, err := a.c.Info(ctx)
	if err != nil {
		return "", err
	}
	return info.System.Version, nil
}

func (a *ARIAsterisk) RingStop(ctx context.Context, id string) error { return a.c.RingStop(ctx, id) }

// AwaitReferHandled reads CHANNEL(endpoint) of the phone's channel.
// chan_pjsip answers that read on the SIP session's serializer, the one
// thread that handles the session's requests in order, including the
// REFER: so the answer comes only after that thread finished with the
// REFER (res_pjsip_refer, refer_incoming_ari_request).
func (a *ARIAsterisk) AwaitReferHandled(ctx context.Context, id string) error {
	_, err := a.c.Variable(ctx, id, "CHANNEL(endpoint)")
	return err
}

func (a *ARIAsterisk) TransferProgress(ctx context.Context, id, state string) error {
	return a.c.TransferProgress(ctx, id, state)
}
func (a *ARIAsterisk) CreateBridge(ctx context.Context, id, name string, hearDigits bool) error {
	// dtmf_events: DTMF reaches transferd (for *8) instead of being relayed
	// silently between the phones; it also forbids native bridging
	// (res_stasis.c clears AST_BRIDGE_CAPABILITY_NATIVE), so every frame
	// passes through Asterisk's core (simple_bridge).
	bridgeType := "mixing"
	if hearDigits {
		bridgeType = "mixing,dtmf_events"
	}
	_, err := a.c.CreateBridge(ctx, id, bridgeType, name)
	return err
}
func (a *ARIAsterisk) AddToBridge(ctx context.Context, bridgeID, id string) error {
	return a.c.AddChannel(ctx, bridgeID, id)
}
func (a *ARIAsterisk) RemoveFromBridge(ctx context.Context, bridgeID, id string) error {
	return a.c.RemoveChannel(ctx, bridgeID, id)
}
func (a *ARIAsterisk) DestroyBridge(ctx context.Context, id string) error {
	return a.c.DestroyBridge(ctx, id)
}

// SetConnectedLine writes CONNECTEDLINE(all) on the channel; Asterisk then
// sends the phone an UPDATE or re-INVITE with the new identity (shown when
// the endpoint has send_pai or send_rpid).
func (a *ARIAsterisk) SetConnectedLine(ctx context.Context, id, name, number string) error {
	value := "<" + number + ">"
	if name != "" {
		value = strconv.Quote(name) + " " + value
	}
	return a.c.SetVariable(ctx, id, "CONNECTEDLINE(all)", value)
}

func (a *ARIAsterisk) StartMusic(ctx context.Context, id string) error {
	return a.c.StartMOH(ctx, id, "")
}
func (a *ARIAsterisk) StopMusic(ctx context.Context, id string) error { return a.c.StopMOH(ctx, id) }
func (a *ARIAsterisk) Play(ctx context.Context, id, playbackID, media string) error {
	_, err := a.c.Play(ctx, id, playbackID, media)
	return err
}

// MailboxExists asks app_voicemail through the VM_INFO dialplan function,
// read as a variable of a channel: without a channel (GET
// /asterisk/variable) VM_INFO answers "" for every mailbox.
func (a *ARIAsterisk) MailboxExists(ctx context.Context, channelID, mailbox string) (bool, error) {
	v, err := a.c.Variable(ctx, channelID, "VM_INFO("+mailbox+",exists)")
	if err != nil {
		return false, err
	}
	return v == "1", nil
}

func (a *ARIAsterisk) ChannelState(ctx context.Context, id string) (string, error) {
	ch, err := a.c.Channel(ctx, id)
	if err != nil {
		return "", err
	}
	return ch.State, nil
}

func (a *ARIAsterisk) SetVariable(ctx context.Context, id, name, value string) error {
	return a.c.SetVariable(ctx, id, name, value)
}

// snapshotReaders bounds the variable reads a snapshot makes at once.
const snapshotReaders = 16

// Snapshot lists the application's channels (those Asterisk reports as
// subscribed to it: in its Stasis) and every bridge.
func (a *ARIAsterisk) Snapshot(ctx context.Context) (Snapshot, error) {
	var snap Snapshot
	app, err := a.c.Application(ctx, a.app)
	if err != nil {
		return snap, err
	}
	inApp := map[string]bool{}
	for _, id := range app.ChannelIDs {
		inApp[id] = true
	}
	bridges, err := a.c.Bridges(ctx)
	if err != nil {
		return snap, err
	}
	bridged := map[string]bool{}
	for _, b := range bridges {
		snap.Bridges = append(snap.Bridges, SnapshotBridge{ID: b.ID, Name: b.Name, Channels: b.Channels})
		for _, id := range b.Channels {
			bridged[id] = true
		}
	}
	channels, err := a.c.Channels(ctx)
	if err != nil {
		return snap, err
	}
	// Each channel's records, read concurrently (one request each:
	// records.go).
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sema = make(chan struct{}, snapshotReaders)
	)
	for _, ch := range channels {
		if !inApp[ch.ID] {
			continue
		}
		wg.Add(1)
		sema <- struct{}{}
		go func() {
			defer func() { <-sema; wg.Done() }()
			r, oneByOne := a.records(ctx, ch.ID)
			if bridged[ch.ID] {
				// (Only a party held out of its bridge carries an entry
				// being keyed.)
				r.voicemail = ""
			}
			mu.Lock()
			defer mu.Unlock()
			if oneByOne {
				snap.RecordsReadOneByOne++
			}
			snap.Channels = append(snap.Channels, SnapshotChannel{
				ID: ch.ID, Name: ch.Name, State: ch.State, CallerNumber: ch.Caller.Number, CallerName: ch.Caller.Name,
				Exten: ch.Dialplan.Exten, Call: r.call, Holding: r.hold == "1", VoicemailEntry: r.voicemail, Refer: r.refer,
				RecordedExten: r.exten, Dialled: r.dialled == "1",
			})
		}()
	}
	wg.Wait()
	// (In Asterisk's order, as before: adoption's choices do not depend
	// on which read finished first.)
	order := map[string]int{}
	for i, ch := range channels {
		order[ch.ID] = i
	}
	slices.SortFunc(snap.Channels, func(x, y SnapshotChannel) int { return order[x.ID] - order[y.ID] })
	return snap, nil
}

// records reads what transferd recorded on a channel in one request. If
// that read fails other than by the channel being gone (EVAL not loaded),
// or its value is not one, each variable is read by itself (oneByOne);
// unset ones, or those of a channel gone meanwhile, are empty.
func (a *ARIAsterisk) records(ctx context.Context, id string) (r channelRecords, oneByOne bool) {
	value, err := a.c.Variable(ctx, id, recordsFunction)
	if errors.Is(err, ari.ErrNotFound) {
		return r, false
	}
	if err == nil {
		if r, ok := parseRecords(value); ok {
			return r, false
		}
	}
	read := func(name string) string {
		v, _ := a.c.Variable(ctx, id, name) // unset: ""
		return v
	}
	return channelRecords{call: read(callVariable), hold: read(holdVariable), refer: read(referVariable),
		voicemail: read(voicemailVariable), exten: read(extenVariable), dialled: read(dialledVariable)}, true
}
