package sipphone

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Call is one SIP dialog of a phone and its media.
type Call struct {
	p      *Phone
	callID string
	media  *media

	mu           sync.Mutex
	incoming     bool
	inviteTx     sip.ServerTransaction
	inviteReq    *sip.Request
	localTag     string
	remoteTag    string
	localURI     string // name-addr or URI of our side
	remoteURI    string
	remoteTarget string // where in-dialog requests go (remote Contact)
	localCSeq    uint32
	remoteCSeq   uint32
	answered     bool
	// peer is who the phone's display shows: the remote party's
	// identity from P-Asserted-Identity (or From/To), updated by
	// connected-line re-INVITEs and UPDATEs.
	peer        string
	peerChanged chan struct{}

	early     chan struct{} // an outgoing call is ringing (early dialog)
	earlyOnce sync.Once

	notifies  chan int
	decided   chan struct{} // an incoming call was answered or rejected
	decideOne sync.Once
	ended     chan struct{}
	endOnce   sync.Once
	endReason string
}

func newCall(p *Phone, callID string) (*Call, error) {
	m, err := newMedia(p.cfg.ToneHz, p.cfg.Logf)
	if err != nil {
		return nil, err
	}
	return &Call{p: p, callID: callID, media: m, notifies: make(chan int, 16), peerChanged: make(chan struct{}), early: make(chan struct{}), decided: make(chan struct{}), ended: make(chan struct{})}, nil
}

func angle(u string) string {
	if strings.HasPrefix(u, "<") {
		return u
	}
	return "<" + u + ">"
}

// request builds an in-dialog (or initial) request of this call.
func (c *Call) request(method, body string, extra ...string) (*sip.Request, error) {
	c.mu.Lock()
	if method != "ACK" {
		if c.localCSeq == 0 {
			c.localCSeq = 1
		} else if method != "INVITE" || c.remoteTag != "" {
			c.localCSeq++
		}
	}
	seq := c.localCSeq
	to := angle(c.remoteURI)
	if c.remoteTag != "" {
		to += ";tag=" + c.remoteTag
	}
	target := strings.Trim(c.remoteTarget, "<>")
	c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, target)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", c.p.addr, sip.GenerateBranch())
	fmt.Fprintf(&b, "From: %s;tag=%s\r\n", angle(c.localURI), c.localTag)
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", c.callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", seq, method)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", c.p.cfg.Ext, c.p.addr)
	b.WriteString("Max-Forwards: 70\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return parseRequest(b.String())
}

// invite sends an INVITE (initial or re-INVITE), answers a digest
// challenge, ACKs the 200 and returns it.
func (c *Call) invite(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	tx, err := c.p.cli.TransactionRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	res, err := c.finalResponse(ctx, tx)
	if err != nil {
		return nil, err
	}
	if res.StatusCode == 401 || res.StatusCode == 407 {
		c.mu.Lock()
		c.localCSeq++
		c.mu.Unlock()
		tx, err = c.p.cli.TransactionDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: c.p.cfg.Ext, Password: c.p.cfg.Password})
		if err != nil {
			return nil, err
		}
		if res, err = c.finalResponse(ctx, tx); err != nil {
			return nil, err
		}
	}
	if res.StatusCode >= 300 {
		return nil, &StatusError{res.StatusCode, res.Reason}
	}
	// ACK the 2xx (RFC 3261 13.2.2.4): same CSeq number, new branch.
	c.mu.Lock()
	c.remoteTag, _ = res.To().Params.Get("tag")
	if ct := res.Contact(); ct != nil {
		c.remoteTarget = ct.Address.String()
	}
	c.localCSeq = res.CSeq().SeqNo
	c.mu.Unlock()
	ack, err := c.request("ACK", "")
	if err != nil {
		return nil, err
	}
	if err := c.p.cli.WriteRequest(ack); err != nil {
		return nil, fmt.Errorf("send ACK: %w", err)
	}
	return res, nil
}

func (c *Call) finalResponse(ctx context.Context, tx sip.ClientTransaction) (*sip.Response, error) {
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				c.noteEarly(res)
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("transaction ended without a final response")
		case <-ctx.Done():
			tx.Terminate()
			return nil, ctx.Err()
		}
	}
}

// noteEarly records the early dialog a 180/183 with a To tag creates, so a
// phone can refer to a call that is still ringing.
func (c *Call) noteEarly(res *sip.Response) {
	tag, ok := res.To().Params.Get("tag")
	if !ok || tag == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.remoteTag == "" {
		c.remoteTag = tag
		c.earlyOnce.Do(func() { close(c.early) })
	}
}

// Answer picks up a ringing incoming call.
func (c *Call) Answer(ctx context.Context) error {
	c.mu.Lock()
	req, tx := c.inviteReq, c.inviteTx
	c.answered = true
	c.mu.Unlock()
	res := sip.NewResponseFromRequest(req, 200, "OK", []byte(c.media.sdp(false)))
	res.To().Params = res.To().Params.Add("tag", c.localTag)
	res.AppendHeader(sip.NewHeader("Contact", "<sip:"+c.p.cfg.Ext+"@"+c.p.addr+">"))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	err := tx.Respond(res)
	c.decideOne.Do(func() { close(c.decided) })
	if err != nil {
		return fmt.Errorf("sipphone %s: answer: %w", c.p.cfg.Ext, err)
	}
	c.media.start()
	return nil
}

// Reject declines a ringing incoming call with a status (486 busy, 603).
func (c *Call) Reject(ctx context.Context, code int) error {
	res := sip.NewResponseFromRequest(c.inviteReq, code, "Rejected", nil)
	res.To().Params = res.To().Params.Add("tag", c.localTag)
	err := c.inviteTx.Respond(res)
	c.decideOne.Do(func() { close(c.decided) })
	c.end("rejected")
	return err
}

func (c *Call) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c.notePeer(req)
	c.media.setRemote(req.Body())
	res := sip.NewResponseFromRequest(req, 200, "OK", []byte(c.media.sdp(c.media.isHeld())))
	res.AppendHeader(sip.NewHeader("Contact", "<sip:"+c.p.cfg.Ext+"@"+c.p.addr+">"))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	tx.Respond(res)
}

// Hold puts the call on hold (re-INVITE with a=sendonly): the phone stops
// sending its voice and the other party should hear music.
func (c *Call) Hold(ctx context.Context) error { return c.reinvite(ctx, true) }

// Unhold resumes the call (re-INVITE with a=sendrecv).
func (c *Call) Unhold(ctx context.Context) error { return c.reinvite(ctx, false) }

func (c *Call) reinvite(ctx context.Context, hold bool) error {
	c.media.setHeld(hold)
	req, err := c.request("INVITE", c.media.sdp(hold))
	if err != nil {
		return err
	}
	res, err := c.invite(ctx, req)
	if err != nil {
		return fmt.Errorf("sipphone %s: re-INVITE (hold=%v): %w", c.p.cfg.Ext, hold, err)
	}
	c.media.setRemote(res.Body())
	return nil
}

// Hangup ends the call: BYE once answered, CANCEL-like 487 for an
// incoming call still ringing. No error if already ended.
func (c *Call) Hangup(ctx context.Context) error {
	select {
	case <-c.ended:
		return nil
	default:
	}
	c.mu.Lock()
	ringingIn := c.incoming && !c.answered
	c.mu.Unlock()
	if ringingIn {
		return c.Reject(ctx, 486)
	}
	defer c.end("local BYE")
	req, err := c.request("BYE", "")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	res, err := c.p.do(ctx, req)
	if err != nil {
		return fmt.Errorf("sipphone %s: BYE: %w", c.p.cfg.Ext, err)
	}
	if res.StatusCode >= 300 && res.StatusCode != 481 {
		return fmt.Errorf("sipphone %s: BYE: %w", c.p.cfg.Ext, &StatusError{res.StatusCode, res.Reason})
	}
	return nil
}

func (c *Call) end(reason string) {
	c.endOnce.Do(func() {
		c.endReason = reason
		c.media.stop()
		c.p.forget(c)
		close(c.ended)
	})
}

// EndedBy says how the call ended: "local BYE" (this phone hung up),
// "remote BYE" (the other side did), "cancelled", ...; "" while it lasts.
func (c *Call) EndedBy() string {
	select {
	case <-c.ended:
		return c.endReason
	default:
		return ""
	}
}

// WaitEnded waits until the call has ended (either side).
func (c *Call) WaitEnded(ctx context.Context) error {
	select {
	case <-c.ended:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sipphone %s: call still up: %w", c.p.cfg.Ext, ctx.Err())
	}
}

// notePeer records the identity a request or response from the other side
// asserts, as a desk phone updates its display on a connected-line update.
func (c *Call) notePeer(msg sip.Message) {
	id := ""
	for _, name := range []string{"P-Asserted-Identity", "Remote-Party-ID"} {
		if hs := msg.GetHeaders(name); len(hs) > 0 {
			id = hs[0].Value()
			break
		}
	}
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if id != c.peer {
		c.peer = id
		close(c.peerChanged)
		c.peerChanged = make(chan struct{})
	}
}

// Peer returns the identity the phone displays for the other party (for
// example `"Phone 101" <sip:101@127.0.0.1>`), "" if none was asserted.
func (c *Call) Peer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peer
}

// WaitPeer waits until the displayed identity contains number.
func (c *Call) WaitPeer(ctx context.Context, number string) (string, error) {
	for {
		c.mu.Lock()
		peer, changed := c.peer, c.peerChanged
		c.mu.Unlock()
		if strings.Contains(peer, "sip:"+number+"@") || strings.Contains(peer, "<"+number+">") {
			return peer, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return peer, fmt.Errorf("sipphone %s: display never showed %s (shows %q): %w", c.p.cfg.Ext, number, peer, ctx.Err())
		}
	}
}

// Transfer is a REFER this phone sent.
type Transfer struct {
	c *Call
	// NoNotify: the REFER asked for no implicit subscription and the
	// server agreed (202 with Refer-Sub: false, RFC 4488): no NOTIFY
	// will tell the outcome.
	NoNotify bool
}

// ReferOption changes a REFER the way some phones send it.
type ReferOption func(*[]string)

// WithoutReferSub asks for no NOTIFYs about the transfer ("Refer-Sub:
// false" with "Supported: norefersub", RFC 4488), as some softphones, SBCs
// and UC clients do: the phone hangs up after the 202 and never learns
// the outcome.
func WithoutReferSub() ReferOption {
	return func(h *[]string) { *h = append(*h, "Refer-Sub: false", "Supported: norefersub") }
}

// BlindTransfer sends REFER to ext (no Replaces) and returns after 202 (or
// 200, for a REFER without subscription).
func (c *Call) BlindTransfer(ctx context.Context, ext string, opts ...ReferOption) (*Transfer, error) {
	headers := []string{"Refer-To: <" + c.p.uri(ext) + ">", "Referred-By: <" + c.p.uri(c.p.cfg.Ext) + ">"}
	for _, o := range opts {
		o(&headers)
	}
	return c.refer(ctx, "REFER", headers)
}

// refer sends a REFER with headers and returns the transfer once 202.
func (c *Call) refer(ctx context.Context, what string, headers []string) (*Transfer, error) {
	req, err := c.request("REFER", "", headers...)
	if err != nil {
		return nil, err
	}
	c.p.subscribeEarly(c)
	res, err := c.p.do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sipphone %s: %s: %w", c.p.cfg.Ext, what, err)
	}
	if res.StatusCode < 200 || res.StatusCode >= 300 {
		return nil, fmt.Errorf("sipphone %s: %s: %w", c.p.cfg.Ext, what, &StatusError{res.StatusCode, res.Reason})
	}
	c.p.subscribe(c)
	t := &Transfer{c: c}
	// RFC 4488: a server that creates no subscription says so with
	// Refer-Sub: false in its 2xx (Asterisk answers 200 then, not 202).
	if h := res.GetHeader("Refer-Sub"); h != nil && strings.EqualFold(strings.TrimSpace(h.Value()), "false") {
		t.NoNotify = true
	}
	return t, nil
}

// SendRefer sends a REFER on the call with exactly the given headers (none
// added: a REFER without Refer-To, or with garbage in it, as a broken or
// hostile phone may send) and returns the status Asterisk answered.
func (c *Call) SendRefer(ctx context.Context, headers ...string) (int, error) {
	req, err := c.request("REFER", "")
	if err != nil {
		return 0, err
	}
	// Added after parsing, as they are: the parser would refuse the
	// garbage this is for.
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.AppendHeader(sip.NewHeader(strings.TrimSpace(name), strings.TrimSpace(value)))
	}
	c.p.subscribeEarly(c)
	res, err := c.p.do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("sipphone %s: REFER: %w", c.p.cfg.Ext, err)
	}
	return res.StatusCode, nil
}

// AttendedTransfer completes a two-step transfer the way desk phones do:
// on this call (the held one), REFER to the party of consult with a
// Replaces naming the consult dialog, so that party replaces this phone.
func (c *Call) AttendedTransfer(ctx context.Context, consult *Call) (*Transfer, error) {
	consult.mu.Lock()
	target := strings.Trim(consult.remoteURI, "<>")
	// to-tag is the tag of the end receiving the Replaces (Asterisk's,
	// our remote tag), from-tag ours, whichever side sent the INVITE.
	replaces := url.QueryEscape(consult.callID + ";to-tag=" + consult.remoteTag + ";from-tag=" + consult.localTag)
	consult.mu.Unlock()
	return c.refer(ctx, "REFER with Replaces", []string{
		"Refer-To: <" + target + "?Replaces=" + replaces + ">",
		"Referred-By: <" + c.p.uri(c.p.cfg.Ext) + ">"})
}

// WaitFinal waits for the NOTIFY carrying the transfer's final status.
func (t *Transfer) WaitFinal(ctx context.Context) (int, error) { return t.c.WaitNotify(ctx) }

// WaitNotify waits for a NOTIFY with a final status of a REFER sent on c
// (by SendRefer, say).
func (c *Call) WaitNotify(ctx context.Context) (int, error) {
	for {
		select {
		case code := <-c.notifies:
			if code >= 200 {
				return code, nil
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("sipphone %s: no final NOTIFY: %w", c.p.cfg.Ext, ctx.Err())
		}
	}
}

// SendDTMF sends digits as RFC 4733 telephone events (or SIP INFO
// requests, Config.InfoDTMF), one after the other as a person keys them
// (each lasts 100 ms, then a short pause), and returns once the last one
// is completely sent.
func (c *Call) SendDTMF(ctx context.Context, digits string) error {
	for _, d := range digits {
		code := strings.IndexRune("0123456789*#ABCD", d)
		if code < 0 {
			return fmt.Errorf("sipphone: DTMF digit %q", d)
		}
		if c.p.cfg.InfoDTMF {
			if err := c.sendInfoDigit(ctx, d); err != nil {
				return err
			}
			continue
		}
		c.media.dtmf(code)
		for !c.media.dtmfSent() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-c.ended:
				return fmt.Errorf("sipphone %s: call ended while sending DTMF", c.p.cfg.Ext)
			case <-time.After(10 * time.Millisecond):
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(80 * time.Millisecond):
		}
	}
	return nil
}

// sendInfoDigit sends one digit as a SIP INFO (application/dtmf-relay,
// as desk phones set to "SIP INFO" DTMF do), then waits as long as the
// key press and pause an RFC 4733 digit takes.
func (c *Call) sendInfoDigit(ctx context.Context, d rune) error {
	req, err := c.request("INFO", "")
	if err != nil {
		return err
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
	req.SetBody([]byte("Signal=" + string(d) + "\r\nDuration=100\r\n"))
	res, err := c.p.do(ctx, req)
	if err != nil {
		return fmt.Errorf("sipphone %s: INFO DTMF %q: %w", c.p.cfg.Ext, d, err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("sipphone %s: INFO DTMF %q: %d %s", c.p.cfg.Ext, d, res.StatusCode, res.Reason)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(180 * time.Millisecond):
	}
	return nil
}

// Heard analyses the audio received over the last window.
func (c *Call) Heard(window time.Duration) Heard { return c.media.heard(window) }

// WaitHearing waits until the last d of audio is toneHz (a phone's voice).
func (c *Call) WaitHearing(ctx context.Context, toneHz float64, d time.Duration) error {
	return c.wait(ctx, d, func(h Heard) bool { return h.Sound && h.ToneHz == toneHz }, "tone "+strconv.Itoa(int(toneHz))+" Hz")
}

// WaitMusic waits until the last d of audio is sound that is no phone's
// voice: music on hold, ringback, a prompt.
func (c *Call) WaitMusic(ctx context.Context, d time.Duration) error {
	return c.wait(ctx, d, func(h Heard) bool { return h.Sound && h.ToneHz == 0 }, "music")
}

func (c *Call) wait(ctx context.Context, d time.Duration, ok func(Heard) bool, what string) error {
	minPackets := int(d/(20*time.Millisecond)) * 8 / 10
	for {
		if h := c.media.heard(d); h.Packets >= minPackets && ok(h) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sipphone %s: not hearing %s: %w", c.p.cfg.Ext, what, ctx.Err())
		case <-c.ended:
			return fmt.Errorf("sipphone %s: call ended (%s) while waiting to hear %s", c.p.cfg.Ext, c.endReason, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
