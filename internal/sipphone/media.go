package sipphone

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Candidate voice frequencies: every phone's tone is one of these, all
// multiples of 20 Hz so they are orthogonal over a 400-sample block.
var candidateTones = func() []float64 {
	var f []float64
	for hz := 400.0; hz <= 1300; hz += 100 {
		f = append(f, hz)
	}
	return f
}()

const (
	sampleRate  = 8000
	frameLen    = 160 // 20 ms
	blockLen    = 400 // 50 ms analysis block, 20 Hz resolution
	silenceRMS  = 150 // below this (16-bit scale) is silence/comfort noise
	toneShare   = 0.6 // share of energy in one candidate to call it a voice
	historyKeep = 6 * time.Second
)

// Heard is what a phone received over a window.
type Heard struct {
	Packets int     // audio RTP packets received
	RMS     float64 // loudness, 16-bit scale
	Sound   bool    // louder than silence
	ToneHz  float64 // the phone tone dominating the audio, 0 if none (music, speech, silence)
}

type chunk struct {
	at      time.Time
	samples []int16
}

// media is a call's RTP: it sends the phone's tone and records what it
// receives.
type media struct {
	toneHz float64
	logf   func(string, ...any)
	conn   *net.UDPConn

	mu       sync.Mutex
	remote   *net.UDPAddr
	pt       byte // negotiated audio payload type (0 PCMU, 8 PCMA)
	eventPT  byte
	held     bool
	received []chunk
	started  bool
	stopped  chan struct{}
	dtmfQ    []int
	// dtmfPending counts digits queued or being sent (until their end
	// packets are out).
	dtmfPending int

	seq  uint16
	ts   uint32
	ssrc uint32
}

func newMedia(toneHz float64, logf func(string, ...any)) (*media, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	m := &media{toneHz: toneHz, logf: logf, conn: conn, eventPT: 101, stopped: make(chan struct{}), ssrc: rand.Uint32()}
	go m.receive()
	return m, nil
}

func (m *media) port() int { return m.conn.LocalAddr().(*net.UDPAddr).Port }

// sdp is the phone's offer/answer (RFC 4566): G.711 and RFC 4733 events.
func (m *media) sdp(hold bool) string {
	dir := "sendrecv"
	if hold {
		dir = "sendonly"
	}
	sess := strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	return "v=0\r\no=- " + sess + " " + sess + " IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(m.port()) + " RTP/AVP 0 8 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n" +
		"a=ptime:20\r\na=" + dir + "\r\n"
}

// setRemote applies the other side's SDP: where to send, which codec.
func (m *media) setRemote(sdp []byte) {
	if len(sdp) == 0 {
		return
	}
	var ip string
	var port int
	pt := -1
	eventPT := -1
	for _, line := range strings.Split(string(sdp), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "c=IN IP4 "):
			ip = strings.TrimPrefix(line, "c=IN IP4 ")
		case strings.HasPrefix(line, "m=audio "):
			f := strings.Fields(line)
			if len(f) >= 4 {
				port, _ = strconv.Atoi(f[1])
				for _, p := range f[3:] {
					if p == "0" || p == "8" {
						n, _ := strconv.Atoi(p)
						pt = n
						break
					}
				}
			}
		case strings.HasPrefix(line, "a=rtpmap:") && strings.Contains(line, "telephone-event"):
			n, err := strconv.Atoi(strings.Fields(strings.TrimPrefix(line, "a=rtpmap:"))[0])
			if err == nil {
				eventPT = n
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ip != "" && port > 0 {
		m.remote = &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
	}
	if pt >= 0 {
		m.pt = byte(pt)
	}
	if eventPT >= 0 {
		m.eventPT = byte(eventPT)
	}
}

func (m *media) setHeld(h bool) {
	m.mu.Lock()
	m.held = h
	m.mu.Unlock()
}

func (m *media) isHeld() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held
}

func (m *media) start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return
	}
	m.started = true
	go m.send()
}

func (m *media) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.stopped:
	default:
		close(m.stopped)
		m.conn.Close()
	}
}

func (m *media) dtmf(code int) {
	m.mu.Lock()
	m.dtmfQ = append(m.dtmfQ, code)
	m.dtmfPending++
	m.mu.Unlock()
}

// dtmfSent reports whether every queued digit has been sent completely.
func (m *media) dtmfSent() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dtmfPending == 0
}

// send streams 20 ms frames of the phone's tone, or RFC 4733 events when
// digits are queued. A held phone sends nothing.
func (m *media) send() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	phase := 0.0
	step := 2 * math.Pi * m.toneHz / sampleRate
	pcm := make([]int16, frameLen)
	var event, eventFrames int = -1, 0
	for {
		select {
		case <-m.stopped:
			return
		case <-tick.C:
		}
		m.mu.Lock()
		remote, pt, held, evPT := m.remote, m.pt, m.held, m.eventPT
		if event < 0 && len(m.dtmfQ) > 0 {
			event, eventFrames = m.dtmfQ[0], 0
			m.dtmfQ = m.dtmfQ[1:]
		}
		m.mu.Unlock()
		if remote == nil {
			continue
		}
		if event >= 0 {
			// 100 ms of event, then the end packet three times (RFC 4733 2.5).
			eventFrames++
			end := eventFrames > 5
			dur := uint16(min(eventFrames, 5) * frameLen)
			payload := []byte{byte(event), 10, byte(dur >> 8), byte(dur)}
			if end {
				payload[1] |= 0x80
			}
			m.write(remote, evPT, eventFrames == 1, payload, false)
			if eventFrames >= 8 {
				event = -1
				m.ts += uint32(5 * frameLen)
				m.mu.Lock()
				m.dtmfPending--
				m.mu.Unlock()
			}
			continue
		}
		for i := range pcm {
			pcm[i] = int16(8000 * math.Sin(phase))
			phase += step
		}
		phase = math.Mod(phase, 2*math.Pi)
		if held {
			m.ts += frameLen
			continue
		}
		payload := make([]byte, frameLen)
		for i, s := range pcm {
			if pt == 8 {
				payload[i] = linearToAlaw(s)
			} else {
				payload[i] = linearToUlaw(s)
			}
		}
		m.write(remote, pt, false, payload, true)
	}
}

func (m *media) write(to *net.UDPAddr, pt byte, marker bool, payload []byte, advance bool) {
	hdr := make([]byte, 12, 12+len(payload))
	hdr[0] = 0x80
	hdr[1] = pt
	if marker {
		hdr[1] |= 0x80
	}
	binary.BigEndian.PutUint16(hdr[2:], m.seq)
	binary.BigEndian.PutUint32(hdr[4:], m.ts)
	binary.BigEndian.PutUint32(hdr[8:], m.ssrc)
	m.seq++
	if advance {
		m.ts += frameLen
	}
	m.conn.WriteToUDP(append(hdr, payload...), to)
}

// receive records every audio packet with its arrival time.
func (m *media) receive() {
	buf := make([]byte, 2048)
	for {
		n, _, err := m.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if n < 12 || buf[0]>>6 != 2 {
			continue
		}
		cc := int(buf[0] & 0x0f)
		off := 12 + 4*cc
		pt := buf[1] & 0x7f
		if pt != 0 && pt != 8 || off >= n {
			continue
		}
		samples := make([]int16, n-off)
		for i, b := range buf[off:n] {
			if pt == 8 {
				samples[i] = alawToLinear(b)
			} else {
				samples[i] = ulawToLinear(b)
			}
		}
		now := time.Now()
		m.mu.Lock()
		m.received = append(m.received, chunk{at: now, samples: samples})
		cut := 0
		for cut < len(m.received) && now.Sub(m.received[cut].at) > historyKeep {
			cut++
		}
		m.received = m.received[cut:]
		m.mu.Unlock()
	}
}

func (m *media) heard(window time.Duration) Heard {
	since := time.Now().Add(-window)
	m.mu.Lock()
	var samples []int16
	packets := 0
	for _, c := range m.received {
		if c.at.After(since) {
			packets++
			samples = append(samples, c.samples...)
		}
	}
	m.mu.Unlock()
	h := Heard{Packets: packets}
	if len(samples) == 0 {
		return h
	}
	var energy float64
	for _, s := range samples {
		energy += float64(s) * float64(s)
	}
	h.RMS = math.Sqrt(energy / float64(len(samples)))
	h.Sound = h.RMS >= silenceRMS
	if !h.Sound {
		return h
	}
	// Share of the signal's energy at each candidate tone, over 50 ms blocks.
	share := make([]float64, len(candidateTones))
	var total float64
	for start := 0; start+blockLen <= len(samples); start += blockLen {
		block := samples[start : start+blockLen]
		var e float64
		for _, s := range block {
			e += float64(s) * float64(s)
		}
		if e == 0 {
			continue
		}
		total += e
		for i, hz := range candidateTones {
			// Goertzel power, normalised so a pure tone at hz gives e.
			share[i] += goertzel(block, hz) * 2 / blockLen
		}
	}
	if total == 0 {
		return h
	}
	best := -1
	for i := range share {
		if best < 0 || share[i] > share[best] {
			best = i
		}
	}
	if share[best]/total >= toneShare {
		h.ToneHz = candidateTones[best]
	}
	return h
}

func goertzel(x []int16, hz float64) float64 {
	k := 2 * math.Cos(2*math.Pi*hz/sampleRate)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - k*s1*s2
}

// G.711 (ITU-T G.711) µ-law and A-law.

func linearToUlaw(s int16) byte {
	const bias, clip = 0x84, 32635
	sign := byte(0)
	v := int(s)
	if v < 0 {
		v, sign = -v, 0x80
	}
	if v > clip {
		v = clip
	}
	v += bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^(sign | byte(exp<<4) | byte(mant))
}

func ulawToLinear(u byte) int16 {
	u = ^u
	sign := u & 0x80
	exp := int(u>>4) & 7
	mant := int(u & 0x0f)
	v := ((mant << 3) + 0x84) << exp
	v -= 0x84
	if sign != 0 {
		return int16(-v)
	}
	return int16(v)
}

func linearToAlaw(s int16) byte {
	v := int(s)
	sign := byte(0x80)
	if v < 0 {
		v, sign = -v-1, 0
	}
	if v > 32767 {
		v = 32767
	}
	var out byte
	if v < 256 {
		out = byte(v >> 4)
	} else {
		exp := 1
		for t := v >> 8; t > 1; t >>= 1 {
			exp++
		}
		out = byte(exp<<4) | byte((v>>(exp+3))&0x0f)
	}
	return (out | sign) ^ 0x55
}

func alawToLinear(a byte) int16 {
	a ^= 0x55
	sign := a & 0x80
	exp := int(a>>4) & 7
	mant := int(a & 0x0f)
	var v int
	if exp == 0 {
		v = (mant << 4) + 8
	} else {
		v = ((mant << 4) + 0x108) << (exp - 1)
	}
	if sign != 0 {
		return int16(v)
	}
	return int16(-v)
}
