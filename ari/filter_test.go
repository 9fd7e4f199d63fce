package ari_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/transferd/transferd/ari"
)

// filterServer is an Asterisk stand-in that records the event filters set
// on the application and closes the first event connection at once (so the
// client reconnects). With filterStatus != 0 it refuses every filter.
type filterServer struct {
	*httptest.Server
	mu      sync.Mutex
	filters [][]string // allowed types of each filter set, in order
	conns   int
}

func newFilterServer(t *testing.T, filterStatus int) *filterServer {
	s := &filterServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /ari/applications/{app}/eventFilter", func(w http.ResponseWriter, r *http.Request) {
		if filterStatus != 0 {
			w.WriteHeader(filterStatus)
			w.Write([]byte(`{"message":"Application does not exist."}`))
			return
		}
		var body struct {
			Allowed    []struct{ Type string }
			Disallowed []struct{ Type string }
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.PathValue("app") != "transferd" || body.Disallowed == nil {
			t.Errorf("filter request for %q: %v, disallowed %v (want an explicit empty list)", r.PathValue("app"), err, body.Disallowed)
		}
		var types []string
		for _, a := range body.Allowed {
			types = append(types, a.Type)
		}
		s.mu.Lock()
		s.filters = append(s.filters, types)
		s.mu.Unlock()
		w.Write([]byte(`{"name":"transferd"}`))
	})
	mux.HandleFunc("GET /ari/events", func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		s.mu.Lock()
		s.conns++
		first := s.conns == 1
		s.mu.Unlock()
		if first {
			return // a broken stream: the client reconnects
		}
		conn.Write(r.Context(), websocket.MessageText, []byte(`{"type":"StasisEnd","application":"transferd","channel":{"id":"1"}}`))
		<-r.Context().Done()
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestSubscribeSetsTheEventFilterOnEveryConnection(t *testing.T) {
	tests := []struct {
		name         string
		events       []string
		filterStatus int
		wantFilters  [][]string
	}{
		{name: "filter set on connecting and again after reconnecting", events: []string{"StasisStart", "StasisEnd"},
			wantFilters: [][]string{{"StasisStart", "StasisEnd"}, {"StasisStart", "StasisEnd"}}},
		{name: "no types: no filter, every event", events: nil, wantFilters: nil},
		{name: "filter refused: events still flow", events: []string{"StasisEnd"}, filterStatus: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFilterServer(t, tt.filterStatus)
			client, err := ari.New(ari.Config{URL: srv.URL, Username: "u", Password: "p", App: "transferd", Events: tt.events})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			events, err := client.Subscribe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			timeout := time.After(5 * time.Second)
			for !slices.Contains(got, "StasisEnd") {
				select {
				case ev := <-events:
					got = append(got, ev.EventType())
				case <-timeout:
					t.Fatalf("events %v: no StasisEnd after the reconnection", got)
				}
			}
			if want := []string{"transferd.Disconnected", "transferd.Reconnected", "StasisEnd"}; !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.filters) != len(tt.wantFilters) {
				t.Fatalf("filters set %v, want %v", srv.filters, tt.wantFilters)
			}
			for i := range srv.filters {
				if !slices.Equal(srv.filters[i], tt.wantFilters[i]) {
					t.Errorf("filter %d allowed %v, want %v", i, srv.filters[i], tt.wantFilters[i])
				}
			}
		})
	}
}

func TestEventTypesListsEveryModelledEventOnce(t *testing.T) {
	types := ari.EventTypes()
	if !slices.IsSorted(types) || len(slices.Compact(slices.Clone(types))) != len(types) {
		t.Errorf("EventTypes not sorted and unique: %v", types)
	}
	for _, want := range []string{"StasisStart", "ChannelTransfer", "ChannelVarset", "BridgeAttendedTransfer"} {
		if !slices.Contains(types, want) {
			t.Errorf("EventTypes lacks %s", want)
		}
	}
	for _, typ := range types {
		ev, err := ari.DecodeEvent([]byte(`{"type":"` + typ + `"}`))
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		if _, unknown := ev.(*ari.UnknownEvent); unknown || ev.EventType() != typ {
			t.Errorf("%s decodes as %T (%s)", typ, ev, ev.EventType())
		}
	}
}
