package ari

import (
	"encoding/json"
	"fmt"
)

// Event is one event of the application's stream: an Asterisk event
// (StasisStart, ChannelTransfer, ...), an *UnknownEvent for a type this
// client does not model, or the client's own *Disconnected / *Reconnected.
type Event interface {
	EventType() string
}

// EventBase holds the fields every Asterisk event carries.
type EventBase struct {
	Type        string `json:"type"`
	Application string `json:"application"`
	Timestamp   string `json:"timestamp"`
	AsteriskID  string `json:"asterisk_id,omitempty"`
}

func (e EventBase) EventType() string { return e.Type }

type StasisStart struct {
	EventBase
	Args           []string `json:"args"`
	Channel        Channel  `json:"channel"`
	ReplaceChannel *Channel `json:"replace_channel,omitempty"`
}

type StasisEnd struct {
	EventBase
	Channel Channel `json:"channel"`
}

type ChannelCreated struct {
	EventBase
	Channel Channel `json:"channel"`
}

type ChannelStateChange struct {
	EventBase
	Channel Channel `json:"channel"`
}

type ChannelHangupRequest struct {
	EventBase
	Cause     int     `json:"cause"`
	TechCause int     `json:"tech_cause,omitempty"`
	Soft      bool    `json:"soft,omitempty"`
	Channel   Channel `json:"channel"`
}

type ChannelDestroyed struct {
	EventBase
	Cause     int     `json:"cause"`
	CauseTxt  string  `json:"cause_txt"`
	TechCause int     `json:"tech_cause,omitempty"`
	Channel   Channel `json:"channel"`
}

type Dial struct {
	EventBase
	Caller     *Channel `json:"caller,omitempty"`
	Peer       Channel  `json:"peer"`
	Forward    string   `json:"forward,omitempty"`
	Forwarded  *Channel `json:"forwarded,omitempty"`
	Dialstring string   `json:"dialstring,omitempty"`
	Dialstatus string   `json:"dialstatus"`
}

type ChannelDtmfReceived struct {
	EventBase
	Digit      string  `json:"digit"`
	DurationMs int     `json:"duration_ms"`
	Channel    Channel `json:"channel"`
}

type ChannelHold struct {
	EventBase
	Channel    Channel `json:"channel"`
	Musicclass string  `json:"musicclass,omitempty"`
}

type ChannelUnhold struct {
	EventBase
	Channel Channel `json:"channel"`
}

type ChannelEnteredBridge struct {
	EventBase
	Bridge  Bridge   `json:"bridge"`
	Channel *Channel `json:"channel,omitempty"`
}

type ChannelLeftBridge struct {
	EventBase
	Bridge  Bridge  `json:"bridge"`
	Channel Channel `json:"channel"`
}

type BridgeCreated struct {
	EventBase
	Bridge Bridge `json:"bridge"`
}

type BridgeDestroyed struct {
	EventBase
	Bridge Bridge `json:"bridge"`
}

type ChannelVarset struct {
	EventBase
	Variable string   `json:"variable"`
	Value    string   `json:"value"`
	Channel  *Channel `json:"channel,omitempty"`
}

type PlaybackStarted struct {
	EventBase
	Playback Playback `json:"playback"`
}

type PlaybackFinished struct {
	EventBase
	Playback Playback `json:"playback"`
}

// ChannelTransfer is a phone's REFER under ari-only transfer handling. It
// has no top-level channel: the transferer is ReferredBy.SourceChannel.
// State is set only on the echoes of the app's own transfer_progress.
type ChannelTransfer struct {
	EventBase
	State      string     `json:"state,omitempty"`
	ReferTo    ReferTo    `json:"refer_to"`
	ReferredBy ReferredBy `json:"referred_by"`
}

type ReferTo struct {
	RequestedDestination RequiredDestination `json:"requested_destination"`
	DestinationChannel   *Channel            `json:"destination_channel,omitempty"`
	ConnectedChannel     *Channel            `json:"connected_channel,omitempty"`
	Bridge               *Bridge             `json:"bridge,omitempty"`
}

type ReferredBy struct {
	SourceChannel    Channel  `json:"source_channel"`
	ConnectedChannel *Channel `json:"connected_channel,omitempty"`
	Bridge           *Bridge  `json:"bridge,omitempty"`
}

type RequiredDestination struct {
	ProtocolID               string            `json:"protocol_id,omitempty"`
	Destination              string            `json:"destination,omitempty"`
	AdditionalProtocolParams []AdditionalParam `json:"additional_protocol_params,omitempty"`
}

type AdditionalParam struct {
	ParameterName  string `json:"parameter_name"`
	ParameterValue string `json:"parameter_value"`
}

// UnknownEvent is an event type this client does not model (one Asterisk
// added later, say). It is delivered, never dropped and never an error.
type UnknownEvent struct {
	EventBase
	Raw json.RawMessage
}

// Disconnected says the event stream broke; events may be missing until
// the matching Reconnected, after which the app should reconcile.
type Disconnected struct{ Err error }

func (*Disconnected) EventType() string { return "transferd.Disconnected" }

// Reconnected says the event stream is back (resubscribed).
type Reconnected struct{}

func (*Reconnected) EventType() string { return "transferd.Reconnected" }

// DecodeEvent decodes one WebSocket frame. A frame that is not a JSON
// object with a "type" is an error; an unmodelled type is an *UnknownEvent.
func DecodeEvent(data []byte) (Event, error) {
	var base EventBase
	if err := json.Unmarshal(data, &base); err != nil {
		return nil, fmt.Errorf("ari: decode event: %w", err)
	}
	if base.Type == "" {
		return nil, fmt.Errorf("ari: decode event: no type in %.80q", data)
	}
	var ev Event
	switch base.Type {
	case "StasisStart":
		ev = &StasisStart{}
	case "StasisEnd":
		ev = &StasisEnd{}
	case "ChannelCreated":
		ev = &ChannelCreated{}
	case "ChannelStateChange":
		ev = &ChannelStateChange{}
	case "ChannelHangupRequest":
		ev = &ChannelHangupRequest{}
	case "ChannelDestroyed":
		ev = &ChannelDestroyed{}
	case "Dial":
		ev = &Dial{}
	case "ChannelDtmfReceived":
		ev = &ChannelDtmfReceived{}
	case "ChannelHold":
		ev = &ChannelHold{}
	case "ChannelUnhold":
		ev = &ChannelUnhold{}
	case "ChannelEnteredBridge":
		ev = &ChannelEnteredBridge{}
	case "ChannelLeftBridge":
		ev = &ChannelLeftBridge{}
	case "BridgeCreated":
		ev = &BridgeCreated{}
	case "BridgeDestroyed":
		ev = &BridgeDestroyed{}
	case "ChannelVarset":
		ev = &ChannelVarset{}
	case "PlaybackStarted":
		ev = &PlaybackStarted{}
	case "PlaybackFinished":
		ev = &PlaybackFinished{}
	case "ChannelTransfer":
		ev = &ChannelTransfer{}
	default:
		return &UnknownEvent{EventBase: base, Raw: append(json.RawMessage(nil), data...)}, nil
	}
	if err := json.Unmarshal(data, ev); err != nil {
		return nil, fmt.Errorf("ari: decode %s event: %w", base.Type, err)
	}
	return ev, nil
}
