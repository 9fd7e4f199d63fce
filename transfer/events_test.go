package transfer

import (
	"slices"
	"testing"

	"github.com/transferd/transferd/ari"
)

// EventTypes is what Asterisk is asked to send: an event type translate
// acts on but EventTypes omits would silently never arrive.
func TestEventTypesAreExactlyTheOnesTranslateActsOn(t *testing.T) {
	// One event with the fields every handled type needs to produce an
	// input; other types ignore what they do not model.
	const sample = `"channel":{"id":"c1","name":"PJSIP/101-00000001","state":"Up"},"peer":{"id":"p1","state":"Up"},` +
		`"dialstatus":"ANSWER","digit":"1","cause":16,"playback":{"id":"pb1"},"result":"Success","destination_type":"link",` +
		`"transferer_first_leg":{"id":"t1"},"refer_to":{"requested_destination":{"destination":"103"}},` +
		`"referred_by":{"source_channel":{"id":"c1"}}`
	listed := EventTypes()
	for _, typ := range listed {
		if !slices.Contains(ari.EventTypes(), typ) {
			t.Errorf("EventTypes lists %s, which ARI does not have", typ)
		}
	}
	for _, typ := range ari.EventTypes() {
		ev, err := ari.DecodeEvent([]byte(`{"type":"` + typ + `",` + sample + `}`))
		if err != nil { // a field of the sample has another shape in this type
			ev, err = ari.DecodeEvent([]byte(`{"type":"` + typ + `"}`))
		}
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		_, in := translate("transferd", ev)
		if acts, wanted := in != nil, slices.Contains(listed, typ); acts != wanted {
			t.Errorf("%s: translate acts on it: %v; in EventTypes: %v", typ, acts, wanted)
		}
	}
}
