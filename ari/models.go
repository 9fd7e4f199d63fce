package ari

// Models, named and shaped as in Asterisk's rest-api/*.json (22.x), that
// no event carries (those are in models_gen.go).

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
