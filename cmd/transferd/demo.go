package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/internal/sipphone"
)

// demoPhones are the sandbox's demo extensions, each with a mailbox.
var demoPhones = []string{"101", "102", "103"}

// announceSandbox tells a newcomer how to call through the sandbox.
func announceSandbox(w io.Writer, sb *sandbox.Sandbox) {
	fmt.Fprintf(w, "sandbox: Asterisk 22 is up. Register a softphone (e.g. Linphone, MicroSIP) as\n"+
		"  %s\n"+
		"and call between them; Tran/Resume and *8<extension> transfer through transferd.\n", softphoneLogin(sb.SIPAddr, demoPhones))
}

// demo walks simulated desk phones through the three transfers of the user
// guide and says what each person hears. Each phone's "voice" is a tone of
// its own pitch, so what a phone receives tells who it hears.
type demo struct {
	ctx    context.Context
	out    io.Writer
	sb     *sandbox.Sandbox
	phones map[string]*sipphone.Phone
	step   int
}

// demoScene is one narrated scenario of the demo.
type demoScene struct {
	title string
	run   func(*demo) error
}

// runDemo runs the user guide's three transfers, then the extra scenes.
func runDemo(ctx context.Context, sb *sandbox.Sandbox, app string, out io.Writer, extra ...demoScene) (err error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	d := &demo{ctx: ctx, out: out, sb: sb, phones: map[string]*sipphone.Phone{}}
	if err := waitForApp(ctx, sb, app); err != nil {
		return err
	}
	for _, ext := range demoPhones {
		p, err := sipphone.New(ctx, sipphone.Config{Ext: ext, Password: sb.PhonePassword(ext), Server: sb.SIPAddr})
		if err != nil {
			return err
		}
		defer p.Close()
		if err := p.Register(ctx); err != nil {
			return fmt.Errorf("demo phone %s: %w", ext, err)
		}
		d.phones[ext] = p
	}
	d.say("phones 101, 102 and 103 registered; each speaks a tone of its own (101: %.0f Hz, 102: %.0f Hz, 103: %.0f Hz)",
		d.phones["101"].ToneHz(), d.phones["102"].ToneHz(), d.phones["103"].ToneHz())
	for _, scenario := range append([]demoScene{
		{"blind transfer (Tran, number, Tran)", (*demo).blind},
		{"attended transfer, then Resume (Tran, talk, colleague declines, Resume)", (*demo).attendedResume},
		{"direct transfer to voicemail (*8, extension, hang up)", (*demo).voicemail},
	}, extra...) {
		d.step++
		fmt.Fprintf(out, "\n== demo %d: %s ==\n", d.step, scenario.title)
		if err := scenario.run(d); err != nil {
			return fmt.Errorf("demo %d (%s): %w", d.step, scenario.title, err)
		}
		if left, err := sb.WaitEmpty(ctx, 5*time.Second); err != nil || left != "" {
			return fmt.Errorf("demo %d left in Asterisk: %s %v", d.step, left, err)
		}
		d.say("nothing left in Asterisk")
	}
	fmt.Fprintln(out, "\ndemo finished: every transfer did what the phone user guide says")
	return nil
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "  "+format+"\n", args...)
}

// waitForApp waits until the Stasis application app is registered with the
// sandbox's Asterisk (transferd connected).
func waitForApp(ctx context.Context, sb *sandbox.Sandbox, app string) error {
	for {
		if appStatus(ctx, sb, app) == http.StatusOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("transferd did not register app %q with Asterisk: %w", app, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// appStatus is the HTTP status of Asterisk's answer about app (200: it is
// registered, 404: it is not), 0 when Asterisk did not answer.
func appStatus(ctx context.Context, sb *sandbox.Sandbox, app string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sb.ARIURL+"/ari/applications/"+app, nil)
	req.SetBasicAuth(sb.ARIUser, sb.ARIPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// call has from call to, to answer, and both hear each other.
func (d *demo) call(from, to string) (caller, callee *sipphone.Call, err error) {
	d.say("%s calls %s", from, to)
	result := make(chan error, 1)
	go func() {
		var err error
		caller, err = d.phones[from].Dial(d.ctx, to)
		result <- err
	}()
	callee, err = d.phones[to].WaitIncoming(d.ctx)
	if err != nil {
		return nil, nil, err
	}
	d.say("%s rings; %s answers", to, to)
	if err := callee.Answer(d.ctx); err != nil {
		return nil, nil, err
	}
	if err := <-result; err != nil {
		return nil, nil, err
	}
	if err := d.talk(from, caller, to, callee); err != nil {
		return nil, nil, err
	}
	return caller, callee, nil
}

// talk checks that a and b hear each other.
func (d *demo) talk(a string, ac *sipphone.Call, b string, bc *sipphone.Call) error {
	if err := d.hears(a, ac, b); err != nil {
		return err
	}
	return d.hears(b, bc, a)
}

func (d *demo) hears(who string, c *sipphone.Call, voice string) error {
	if err := c.WaitHearing(d.ctx, d.phones[voice].ToneHz(), time.Second); err != nil {
		return fmt.Errorf("%s should hear %s: %w", who, voice, err)
	}
	d.say("%s hears %s", who, voice)
	return nil
}

func (d *demo) hearsMusic(who, what string, c *sipphone.Call) error {
	if err := c.WaitMusic(d.ctx, time.Second); err != nil {
		return fmt.Errorf("%s should hear %s: %w", who, what, err)
	}
	d.say("%s hears %s", who, what)
	return nil
}

func (d *demo) blind() error {
	a, c, err := d.call("101", "102")
	if err != nil {
		return err
	}
	d.say("102 presses Tran: the call is put on hold")
	if err := c.Hold(d.ctx); err != nil {
		return err
	}
	if err := d.hearsMusic("101", "music on hold", a); err != nil {
		return err
	}
	d.say("102 dials 103 and presses Tran (REFER to 103)")
	tr, err := c.BlindTransfer(d.ctx, "103")
	if err != nil {
		return err
	}
	code, err := tr.WaitFinal(d.ctx)
	if err != nil || code != 200 {
		return fmt.Errorf("102's phone was told %d (%v), want 200", code, err)
	}
	d.say("102's phone shows the transfer succeeded (NOTIFY 200) and hangs up")
	c.Hangup(d.ctx)
	in, err := d.phones["103"].WaitIncoming(d.ctx)
	if err != nil {
		return err
	}
	d.say("103 rings")
	if err := d.hearsMusic("101", "ringback", a); err != nil {
		return err
	}
	if err := in.Answer(d.ctx); err != nil {
		return err
	}
	d.say("103 answers")
	if err := d.talk("101", a, "103", in); err != nil {
		return err
	}
	d.say("101 hangs up")
	a.Hangup(d.ctx)
	return in.WaitEnded(d.ctx)
}

func (d *demo) attendedResume() error {
	a, first, err := d.call("101", "102")
	if err != nil {
		return err
	}
	d.say("102 presses Tran: 101 is put on hold")
	if err := first.Hold(d.ctx); err != nil {
		return err
	}
	if err := d.hearsMusic("101", "music on hold", a); err != nil {
		return err
	}
	d.say("102 dials 103 and presses Send (a consultation call)")
	second, colleague, err := d.call("102", "103")
	if err != nil {
		return err
	}
	if err := d.hearsMusic("101", "music on hold all along", a); err != nil {
		return err
	}
	d.say("103 declines to take the call and hangs up")
	colleague.Hangup(d.ctx)
	if err := second.WaitEnded(d.ctx); err != nil {
		return err
	}
	d.say("102 presses Resume: the call comes off hold")
	if err := first.Unhold(d.ctx); err != nil {
		return err
	}
	if err := d.talk("101", a, "102", first); err != nil {
		return err
	}
	d.say("101 hangs up")
	a.Hangup(d.ctx)
	return first.WaitEnded(d.ctx)
}

func (d *demo) voicemail() error {
	inbox := d.sb.VoicemailInbox("103")
	before, _ := filepath.Glob(filepath.Join(inbox, "msg*.txt"))
	a, c, err := d.call("101", "102")
	if err != nil {
		return err
	}
	d.say("102 keys *8 then 103 (DTMF) and hangs up")
	if err := c.SendDTMF(d.ctx, "*8103"); err != nil {
		return err
	}
	c.Hangup(d.ctx)
	if err := d.hearsMusic("101", "103's voicemail greeting", a); err != nil {
		return err
	}
	d.say("101 waits for the beep (about 12 s), speaks for 3 s and hangs up")
	select {
	case <-time.After(15 * time.Second):
	case <-d.ctx.Done():
		return d.ctx.Err()
	}
	a.Hangup(d.ctx)
	for {
		after, _ := filepath.Glob(filepath.Join(inbox, "msg*.txt"))
		if len(after) > len(before) {
			data, _ := os.ReadFile(after[len(after)-1])
			d.say("a new message is in 103's mailbox (%s)", messageSummary(string(data)))
			return nil
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-d.ctx.Done():
			return fmt.Errorf("no message appeared in %s: %w", inbox, d.ctx.Err())
		}
	}
}

// messageSummary picks who left a voicemail message and how long it is.
func messageSummary(info string) string {
	var parts []string
	for _, line := range strings.Split(info, "\n") {
		for _, key := range []string{"callerid=", "duration="} {
			if v, ok := strings.CutPrefix(line, key); ok {
				parts = append(parts, strings.TrimSuffix(key, "=")+" "+v)
			}
		}
	}
	return strings.Join(parts, ", ")
}
