package transfer

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// recorder is an Observer that keeps "step kind outcome destination".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) TransferEvent(ev TransferEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %s %s %s", ev.Step, ev.Kind, ev.Outcome, ev.Destination))
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func TestObserverSeesEachTransfersLifecycle(t *testing.T) {
	tests := []struct {
		name string
		run  func(f *fakeAsterisk, x1 string)
		want []string
	}{
		{
			name: "blind answered",
			run: func(f *fakeAsterisk, x1 string) {
				f.refers(x1, "A", "103")
				f.eventually("103 rings", func() bool { return f.ringingLocked("PJSIP/103") })
				f.answers(f.createdChannel("PJSIP/103"))
			},
			want: []string{"started blind  103", "ringing blind  103", "answered blind  103", "ended blind completed 103"},
		},
		{
			name: "blind refused by policy",
			run:  func(f *fakeAsterisk, x1 string) { f.refers(x1, "A", "0900123456") },
			want: []string{"started blind  0900123456", "ended blind refused 0900123456"},
		},
		{
			name: "blind, target busy: voicemail",
			run: func(f *fakeAsterisk, x1 string) {
				f.refers(x1, "A", "103")
				f.eventually("103 rings", func() bool { return f.ringingLocked("PJSIP/103") })
				f.dialFails(f.createdChannel("PJSIP/103"), "BUSY", 17)
			},
			want: []string{"started blind  103", "ringing blind  103", "ended blind voicemail 103"},
		},
		{
			name: "voicemail by DTMF",
			run:  func(f *fakeAsterisk, x1 string) { f.keys(x1, "*8103#") },
			want: []string{"started voicemail  103", "ended voicemail completed 103"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			f := startObservedEngine(t, Config{}, rec)
			_, x1 := talking(t, f)
			tt.run(f, x1)
			f.eventually("the transfer ends", func() bool { return len(rec.get()) >= len(tt.want) })
			if got := rec.get(); !slices.Equal(got, tt.want) {
				t.Errorf("observer saw %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("attended completed", func(t *testing.T) {
		rec := &recorder{}
		f := startObservedEngine(t, Config{}, rec)
		x1, b2, k := consulting(t, f, true)
		f.attendedRefers(x1, "A", b2, k)
		want := []string{"started attended  ", "ended attended completed 103"}
		f.eventually("the transfer ends", func() bool { return len(rec.get()) >= len(want) })
		if got := rec.get(); !slices.Equal(got, want) {
			t.Errorf("observer saw %q, want %q", got, want)
		}
	})
}
