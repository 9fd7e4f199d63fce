package ari

// Models, named and shaped as in Asterisk's rest-api/*.json (22.x).

// CallerID is a caller or connected-line identity.
type CallerID struct {
	Name   string `json:"name"`
	Number string `json:"number"`
}

// DialplanCEP is a dialplan location (context, extension, priority).
type DialplanCEP struct {
	Context  string `json:"context"`
	Exten    string `json:"exten"`
	Priority int64  `json:"priority"`
	AppName  string `json:"app_name,omitempty"`
	AppData  string `json:"app_data,omitempty"`
}

// Channel is an Asterisk channel.
type Channel struct {
	ID           string            `json:"id"`
	ProtocolID   string            `json:"protocol_id,omitempty"`
	Name         string            `json:"name"`
	State        string            `json:"state"`
	Caller       CallerID          `json:"caller"`
	Connected    CallerID          `json:"connected"`
	Accountcode  string            `json:"accountcode"`
	Dialplan     DialplanCEP       `json:"dialplan"`
	Creationtime string            `json:"creationtime"`
	Language     string            `json:"language"`
	ChannelVars  map[string]string `json:"channelvars,omitempty"`
}

// Bridge is an Asterisk bridge.
type Bridge struct {
	ID          string   `json:"id"`
	Technology  string   `json:"technology"`
	BridgeType  string   `json:"bridge_type"`
	BridgeClass string   `json:"bridge_class"`
	Creator     string   `json:"creator"`
	Name        string   `json:"name"`
	Channels    []string `json:"channels"`
}

// Playback is media playing to a channel or bridge.
type Playback struct {
	ID        string `json:"id"`
	MediaURI  string `json:"media_uri"`
	TargetURI string `json:"target_uri"`
	Language  string `json:"language"`
	State     string `json:"state"`
}

// Endpoint is a technology endpoint (e.g. PJSIP/102).
type Endpoint struct {
	Technology string   `json:"technology"`
	Resource   string   `json:"resource"`
	State      string   `json:"state"`
	ChannelIDs []string `json:"channel_ids"`
}

// Variable is a channel or global variable's value.
type Variable struct {
	Value string `json:"value"`
}

// AsteriskInfo is GET /asterisk/info (the parts transferd reads).
type AsteriskInfo struct {
	System struct {
		Version  string `json:"version"`
		EntityID string `json:"entity_id"`
	} `json:"system"`
}

// Application is a Stasis application's state.
type Application struct {
	Name        string   `json:"name"`
	ChannelIDs  []string `json:"channel_ids"`
	BridgeIDs   []string `json:"bridge_ids"`
	EndpointIDs []string `json:"endpoint_ids"`
}
