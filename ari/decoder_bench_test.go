package ari

import (
	"encoding/json"
	"testing"

	goccy "github.com/goccy/go-json"
	segmentio "github.com/segmentio/encoding/json"
)

// The libraries DecodeEvent could decode with, on the frames Asterisk
// sends most, in one run: go test -run '^$' -bench DecodeWith ./ari
// Each decodes the way DecodeEvent does: the type read off the text,
// then one parse into that type's struct. (The generated decoders goccy
// replaced took 975-989, 2344-2932 and 1780-1939 ns on StasisStart,
// ChannelTransfer and Dial in the run that chose goccy, which took
// 882-922, 2346-2642 and 1603-1714 ns; segmentio 927-957, 2600-2821,
// 1778-1805; encoding/json 5598-5712, 13349-14654, 9709-9893.)
var decoders = map[string]func([]byte, any) error{
	"encoding-json": json.Unmarshal,
	"goccy":         goccy.Unmarshal,
	"segmentio":     segmentio.Unmarshal,
}

func BenchmarkDecodeWith(b *testing.B) {
	frames := []struct {
		name  string
		frame []byte
	}{{"StasisStart", stasisStartFrame}, {"ChannelTransfer", channelTransferFrame}, {"Dial", dialFrame}}
	for _, f := range frames {
		b.Run(f.name+"/DecodeEvent", func(b *testing.B) { benchmarkDecode(b, f.frame) })
		for name, unmarshal := range decoders {
			b.Run(f.name+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(f.frame)))
				for b.Loop() {
					ev := eventTypes[string(typeField(f.frame))]()
					if err := unmarshal(f.frame, ev); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
