package transfer

import (
	"context"
	"time"
)

// Asterisk is what the engine needs from Asterisk: the dozen ARI operations
// transfers are made of, not ARI's whole surface. ARIAsterisk adapts the
// ari client; unit tests use a fake that behaves like Asterisk.
//
// Every method is called from a call's owner goroutine with a ctx bounded by
// Config.CommandTimeout. An error wrapping ari.ErrNotFound means the channel,
// bridge or playback is already gone: a fact the engine acts on, not a
// failure.
type Asterisk interface {
	// CreateChannel creates (without dialling) a channel in the engine's
	// Stasis app, so it can be routed before it rings. It can be dialled
	// once its StasisStart arrived (before that, Asterisk answers 409).
	CreateChannel(ctx context.Context, spec ChannelSpec) error
	// EndpointExists reports whether Asterisk knows the endpoint of a dial
	// string ("PJSIP/102"), registered or not. Creating a channel fails
	// alike ("Allocation failed") for an unknown endpoint and for a phone
	// that is not registered; only the first is "not in service".
	EndpointExists(ctx context.Context, dialString string) (bool, error)
	// Dial rings a created channel; Asterisk gives up after timeout. A
	// non-empty callerChannel ties the dial to that channel (Asterisk
	// cancels it when that channel hangs up).
	Dial(ctx context.Context, channelID, callerChannel string, timeout time.Duration) error
	Answer(ctx context.Context, channelID string) error
	// Ring indicates ringing to a channel: the phone's own ringback before
	// answer, an in-band ringing tone after. RingStop ends it.
	Ring(ctx context.Context, channelID string) error
	RingStop(ctx context.Context, channelID string) error
	// Hangup hangs a channel up; reason is an ARI hangup reason
	// ("normal", "busy", "unallocated", ...).
	Hangup(ctx context.Context, channelID, reason string) error
	// Continue sends a channel out of Stasis into the dialplan.
	Continue(ctx context.Context, channelID, dialplanContext, exten string) error
	// TransferProgress reports a REFER's progress to the transferer's phone
	// (ari-only transfer handling): "channel_progress", "channel_answered",
	// "channel_unavailable" or "channel_declined".
	TransferProgress(ctx context.Context, channelID, state string) error
	// AwaitReferHandled returns once Asterisk has finished taking in the
	// latest REFER of the phone on channelID, the ChannelTransfer event
	// having been sent while it was still at it. The first progress
	// report of a REFER must wait for it: see call.awaitReferHandled.
	AwaitReferHandled(ctx context.Context, channelID string) error
	// StartMusic plays music on hold to a channel (not in a bridge);
	// StopMusic ends it.
	StartMusic(ctx context.Context, channelID string) error
	StopMusic(ctx context.Context, channelID string) error
	// Play plays media ("sound:pbx-invalid") to a channel.
	Play(ctx context.Context, channelID, playbackID, media string) error
	// MailboxExists reports whether a voicemail box ("103@default")
	// exists, asking on behalf of a channel (app_voicemail answers only
	// in a channel's context).
	MailboxExists(ctx context.Context, channelID, mailbox string) (bool, error)
	// Version returns Asterisk's version as ARI reports it
	// (GET /asterisk/info: "22.11.0").
	Version(ctx context.Context) (string, error)
	// Snapshot lists the channels in the application's Stasis (with what
	// transferd recorded on them: records.go) and the bridges: what
	// Asterisk holds.
	Snapshot(ctx context.Context) (Snapshot, error)
	// ChannelState is a channel's state now ("Down", "Ringing", "Up").
	ChannelState(ctx context.Context, channelID string) (string, error)
	// SetVariable sets a channel variable.
	SetVariable(ctx context.Context, channelID, name, value string) error
	// SetConnectedLine updates what a phone displays as the party it talks
	// to (Asterisk sends the phone a connected-line update).
	SetConnectedLine(ctx context.Context, channelID, name, number string) error
	// CreateBridge creates a mixing bridge; with hearDigits it raises
	// DTMF events (and Asterisk decodes every frame it carries), without
	// it Asterisk may bridge the channels natively.
	CreateBridge(ctx context.Context, bridgeID, name string, hearDigits bool) error
	AddToBridge(ctx context.Context, bridgeID, channelID string) error
	RemoveFromBridge(ctx context.Context, bridgeID, channelID string) error
	DestroyBridge(ctx context.Context, bridgeID string) error
}

// ChannelSpec describes a channel the engine creates.
type ChannelSpec struct {
	ID         string            // chosen by the engine, routed before creation
	Endpoint   string            // dial string, e.g. "PJSIP/103"
	Originator string            // channel the call comes from (caller ID, codecs)
	Variables  map[string]string // channel variables set at creation
}

// Values of TransferProgress's state (Asterisk's transfer_progress states).
const (
	progressTrying      = "channel_progress"    // NOTIFY 100 Trying
	progressAnswered    = "channel_answered"    // NOTIFY 200 OK
	progressUnavailable = "channel_unavailable" // NOTIFY 503
	progressDeclined    = "channel_declined"    // NOTIFY 603
)
