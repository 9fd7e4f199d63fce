// Package sipphone is test code: SIP desk phones for transferd's end-to-end
// tests. A Phone registers with Asterisk (digest auth, UDP on an OS-chosen
// loopback port), places and answers calls with G.711 audio, holds with
// re-INVITE a=sendonly (RFC 3264), transfers with REFER (RFC 3515), sends
// RFC 4733 DTMF, and reports what it heard: every phone sends a sine tone
// of its own frequency, so a test can tell whose voice, music or silence a
// call carries.
//
//	p, _ := sipphone.New(ctx, sipphone.Config{Ext: "101", Password: "pw-101", Server: sb.SIPAddr})
//	p.Register(ctx)
//	c, _ := p.Dial(ctx, "102")
//	c.WaitHearing(ctx, 500, time.Second) // 102's tone
package sipphone

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Config describes a phone.
type Config struct {
	Ext      string
	Password string
	Server   string  // Asterisk's SIP address, "127.0.0.1:5060"
	ToneHz   float64 // the phone's voice; 0 → derived from Ext
	// InfoDTMF: the phone sends keyed digits as SIP INFO requests
	// (application/dtmf-relay, the endpoint's dtmf_mode = info) instead
	// of RFC 4733 events in its RTP.
	InfoDTMF bool
	Logf     func(string, ...any)
}

// Phone is one registered desk phone.
type Phone struct {
	cfg  Config
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	cli  *sipgo.Client
	conn net.PacketConn
	addr string // our SIP address

	incoming  chan *Call
	mu        sync.Mutex
	calls     map[string]*Call // by Call-ID
	referring map[string]*Call // calls with a REFER sent, by Call-ID
	cancel    context.CancelFunc
}

// StatusError is a SIP failure response.
type StatusError struct {
	Code   int
	Reason string
}

func (e *StatusError) Error() string { return fmt.Sprintf("sip %d %s", e.Code, e.Reason) }

// StatusCode returns the SIP status of err, or 0.
func StatusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// New starts a phone's SIP stack on a loopback port the OS picks.
func New(ctx context.Context, cfg Config) (*Phone, error) {
	if cfg.ToneHz == 0 {
		n, err := strconv.Atoi(cfg.Ext)
		if err != nil {
			return nil, fmt.Errorf("sipphone: tone for extension %q: %w", cfg.Ext, err)
		}
		cfg.ToneHz = float64(300 + (n%10)*100) // 101→400 Hz … 109→1200 Hz
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sipphone %s: listen: %w", cfg.Ext, err)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("transferd-testphone-"+cfg.Ext), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		conn.Close()
		return nil, err
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		return nil, err
	}
	addr := conn.LocalAddr().String()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientAddr(addr))
	if err != nil {
		return nil, err
	}
	p := &Phone{cfg: cfg, ua: ua, srv: srv, cli: cli, conn: conn, addr: addr,
		incoming: make(chan *Call, 8), calls: map[string]*Call{}, referring: map[string]*Call{}}
	srv.OnInvite(p.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {})
	srv.OnBye(p.onBye)
	srv.OnCancel(p.onCancel)
	srv.OnNotify(p.onNotify)
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnUpdate(func(req *sip.Request, tx sip.ServerTransaction) {
		if c := p.find(req); c != nil {
			c.notePeer(req) // connected-line update
		}
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	_, p.cancel = context.WithCancel(context.Background())
	go srv.ServeUDP(conn)
	return p, nil
}

// ToneHz is the frequency of this phone's voice.
func (p *Phone) ToneHz() float64 { return p.cfg.ToneHz }

func (p *Phone) uri(user string) string { return "sip:" + user + "@" + p.cfg.Server }

// Register registers the phone's contact with digest auth.
func (p *Phone) Register(ctx context.Context) error {
	return p.register(ctx, 600)
}

func (p *Phone) register(ctx context.Context, expires int) error {
	callID := newID()
	text := "REGISTER sip:" + p.cfg.Server + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + p.addr + ";branch=" + sip.GenerateBranch() + ";rport\r\n" +
		"From: <" + p.uri(p.cfg.Ext) + ">;tag=" + newID()[:8] + "\r\n" +
		"To: <" + p.uri(p.cfg.Ext) + ">\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 1 REGISTER\r\n" +
		"Contact: <sip:" + p.cfg.Ext + "@" + p.addr + ">\r\n" +
		"Expires: " + strconv.Itoa(expires) + "\r\n" +
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	req, err := parseRequest(text)
	if err != nil {
		return err
	}
	res, err := p.do(ctx, req)
	if err != nil {
		return fmt.Errorf("sipphone %s: register: %w", p.cfg.Ext, err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("sipphone %s: register: %w", p.cfg.Ext, &StatusError{res.StatusCode, res.Reason})
	}
	return nil
}

// do sends a non-INVITE request and returns its final response, answering
// a digest challenge once.
func (p *Phone) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	res, err := p.cli.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode == 401 || res.StatusCode == 407 {
		return p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.cfg.Ext, Password: p.cfg.Password})
	}
	return res, nil
}

// Close hangs up the phone's calls, unregisters and stops its SIP stack.
func (p *Phone) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.mu.Lock()
	var calls []*Call
	for _, c := range p.calls {
		calls = append(calls, c)
	}
	p.mu.Unlock()
	for _, c := range calls {
		c.Hangup(ctx)
	}
	p.register(ctx, 0)
	p.cancel()
	p.ua.Close()
	return p.conn.Close()
}

func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	callID := req.CallID().Value()
	p.mu.Lock()
	c := p.calls[callID]
	p.mu.Unlock()
	if c != nil { // re-INVITE
		c.onReinvite(req, tx)
		return
	}
	c, err := newCall(p, callID)
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Error", nil))
		return
	}
	c.incoming = true
	c.inviteTx, c.inviteReq = tx, req
	c.localTag = newID()[:10]
	c.remoteTag, _ = req.From().Params.Get("tag")
	c.localURI = req.To().Address.String()
	c.remoteURI = req.From().Address.String()
	if ct := req.Contact(); ct != nil {
		c.remoteTarget = ct.Address.String()
	}
	c.remoteCSeq = req.CSeq().SeqNo
	c.peer = req.From().Value()
	c.notePeer(req)
	c.media.setRemote(req.Body())
	p.track(c)
	// sipgo answers a CANCEL itself (200, then 487 on the INVITE) and
	// never calls the CANCEL handler for a known transaction: end the
	// call here so the test sees the ringing stop.
	tx.OnCancel(func(*sip.Request) {
		p.cfg.Logf("phone %s: call %s cancelled by the caller", p.cfg.Ext, callID)
		c.end("cancelled")
	})
	ringing := sip.NewResponseFromRequest(req, 180, "Ringing", nil)
	ringing.To().Params = ringing.To().Params.Add("tag", c.localTag)
	tx.Respond(ringing)
	p.cfg.Logf("phone %s: incoming call %s from %s", p.cfg.Ext, callID, c.remoteURI)
	p.incoming <- c
	// sipgo ends the transaction when this handler returns: hold it until
	// the test answers or rejects, or the caller cancels.
	select {
	case <-c.decided:
	case <-c.ended:
	case <-tx.Done():
	}
}

func (p *Phone) find(req *sip.Request) *Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[req.CallID().Value()]
}

func (p *Phone) track(c *Call) {
	p.mu.Lock()
	p.calls[c.callID] = c
	p.mu.Unlock()
}

func (p *Phone) forget(c *Call) {
	p.mu.Lock()
	delete(p.calls, c.callID)
	p.mu.Unlock()
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	if c := p.find(req); c != nil {
		p.cfg.Logf("phone %s: call %s ended by the other side", p.cfg.Ext, c.callID)
		c.end("remote BYE")
	}
}

func (p *Phone) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	if c := p.find(req); c != nil && c.inviteTx != nil {
		c.inviteTx.Respond(sip.NewResponseFromRequest(c.inviteReq, 487, "Request Terminated", nil))
		c.end("cancelled")
	}
}

// subscribe keeps routing NOTIFYs of c's REFER to it even after its
// dialog ends: the implicit subscription outlives the call (a PBX may hang
// the call up before its final NOTIFY arrives).
func (p *Phone) subscribe(c *Call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.referring[c.callID] = c
}

// subscribeEarly routes c's NOTIFYs to it from before its REFER is sent.
// sipgo handles each incoming message on its own goroutine, so on a busy
// machine the final NOTIFY (and a BYE ending the call) can be handled
// before the REFER's 202 is: seen in the load harness at 150 concurrent
// calls, the NOTIFY then found neither the ended call nor a subscription
// and was dropped, and the transfer looked as if it never finished.
func (p *Phone) subscribeEarly(c *Call) { p.subscribe(c) }

func (p *Phone) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	c := p.find(req)
	if c == nil {
		p.mu.Lock()
		c = p.referring[req.CallID().Value()]
		p.mu.Unlock()
	}
	if c == nil {
		return
	}
	// Body is a message/sipfrag status line: "SIP/2.0 200 OK".
	fields := strings.Fields(string(req.Body()))
	if len(fields) >= 2 {
		if code, err := strconv.Atoi(fields[1]); err == nil {
			p.cfg.Logf("phone %s: NOTIFY %d on %s", p.cfg.Ext, code, c.callID)
			select {
			case c.notifies <- code:
			default:
			}
		}
	}
}

// WaitIncoming returns the next call ringing this phone.
func (p *Phone) WaitIncoming(ctx context.Context) (*Call, error) {
	select {
	case c := <-p.incoming:
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("sipphone %s: no incoming call: %w", p.cfg.Ext, ctx.Err())
	}
}

// Dial calls ext and returns once the call is answered.
func (p *Phone) Dial(ctx context.Context, ext string) (*Call, error) {
	c, err := p.newOutgoing(ext)
	if err != nil {
		return nil, err
	}
	if err := p.dial(ctx, c, ext); err != nil {
		return nil, err
	}
	return c, nil
}

// DialEarly calls ext and returns as soon as it rings (an early dialog a
// REFER can name), with a channel that delivers the INVITE's outcome: nil
// once answered, the failure otherwise.
func (p *Phone) DialEarly(ctx context.Context, ext string) (*Call, <-chan error, error) {
	c, err := p.newOutgoing(ext)
	if err != nil {
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- p.dial(ctx, c, ext) }()
	select {
	case <-c.early:
		return c, done, nil
	case err := <-done:
		if err == nil {
			return c, closedNil(), nil
		}
		return nil, nil, err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

func closedNil() <-chan error {
	ch := make(chan error, 1)
	ch <- nil
	return ch
}

func (p *Phone) newOutgoing(ext string) (*Call, error) {
	c, err := newCall(p, newID())
	if err != nil {
		return nil, err
	}
	c.localTag = newID()[:10]
	c.localURI = "<" + p.uri(p.cfg.Ext) + ">"
	c.remoteURI = "<" + p.uri(ext) + ">"
	c.remoteTarget = p.uri(ext)
	return c, nil
}

func (p *Phone) dial(ctx context.Context, c *Call, ext string) error {
	p.track(c)
	c.localCSeq = 1
	req, err := c.request("INVITE", c.media.sdp(false))
	if err != nil {
		return err
	}
	res, err := c.invite(ctx, req)
	if err != nil {
		p.forget(c)
		c.end("failed")
		return fmt.Errorf("sipphone %s: call %s: %w", p.cfg.Ext, ext, err)
	}
	c.mu.Lock()
	c.remoteTag, _ = res.To().Params.Get("tag")
	if ct := res.Contact(); ct != nil {
		c.remoteTarget = ct.Address.String()
	}
	c.mu.Unlock()
	c.notePeer(res)
	c.media.setRemote(res.Body())
	c.media.start()
	return nil
}

func parseRequest(text string) (*sip.Request, error) {
	msg, err := sip.ParseMessage([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("sipphone: build request: %w", err)
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, errors.New("sipphone: built message is not a request")
	}
	return req, nil
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
