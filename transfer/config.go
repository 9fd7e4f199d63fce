package transfer

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Defaults, each with the reason for its value.
const (
	// DefaultDialTemplate reaches a PJSIP endpoint named like the extension,
	// the usual layout of an Asterisk PBX.
	DefaultDialTemplate = "PJSIP/{exten}"
	// DefaultExtensionPattern accepts internal extensions of 2 to 6 digits
	// not starting with 0, so a transfer cannot reach an outside line
	// (0…, 00…, 0900… premium numbers) unless an administrator allows it.
	DefaultExtensionPattern = `^[1-9][0-9]{1,5}$`
	// DefaultAnswerTimeout is how long a callee rings before the call goes
	// to voicemail: 20 s is about four rings, what PBXs commonly use.
	DefaultAnswerTimeout = 20 * time.Second
	// DefaultVoicemailContext is the context shipped in
	// dialplan/extensions_transferd.conf.
	DefaultVoicemailContext = "transferd-voicemail"
	// DefaultVoicemailCode is what office phone user guides print for a
	// direct transfer to voicemail.
	DefaultVoicemailCode = "*8"
	// DefaultDigitTimeout: desk phone users key the next digit within a
	// second or two; three seconds forgives a slow one.
	DefaultDigitTimeout = 3 * time.Second
	// VoicemailFallbackTransferer sends the caller to the mailbox of the
	// user who started the voicemail transfer.
	VoicemailFallbackTransferer = "transferer"
	// DefaultMailboxContext is voicemail.conf's usual context.
	DefaultMailboxContext = "default"
	// DefaultTransferContext is the context shipped in
	// dialplan/extensions_transferd.conf for transfers Asterisk performs
	// itself (core handling).
	DefaultTransferContext = "transferd-transfer"
	// DefaultCommandTimeout bounds one ARI request: Asterisk answers in
	// milliseconds; seconds mean it is stuck.
	DefaultCommandTimeout = 5 * time.Second
)

// What happens to a call nobody answered.
const (
	NoAnswerVoicemail = "voicemail" // the dialled extension's voicemail
	NoAnswerHangup    = "hangup"    // end the call (the caller hears it end)
	NoAnswerRecall    = "recall"    // transfers only: ring the transferer back
)

// What happens when a transferer hangs up during a consultation.
const (
	// TransfererHangupComplete completes the transfer, as Asterisk's own
	// attended transfers do: the held caller is never abandoned.
	TransfererHangupComplete = "complete"
	// TransfererHangupRecall ends the consultation and rings the
	// transferer back for the held caller.
	TransfererHangupRecall = "recall"
)

// Config is the engine's typed configuration. The daemon fills it from its
// file, environment and flags; Validate fills defaults and checks it.
type Config struct {
	// App is the Stasis application transferd registers (ari.app).
	App string
	// Node names the Asterisk this engine serves, when a transferd serves
	// several (one engine each): API objects and transfer events carry it.
	Node string
	// Routes reach extensions hosted on other Asterisk nodes: the first
	// route whose pattern matches an extension and whose node is not
	// this engine's gives the dial string, e.g. "PJSIP/{exten}@node2"
	// over a trunk between the nodes. Extensions no route takes are
	// dialled with DialTemplate. A voicemail transfer to such an
	// extension dials the route with the voicemail code before the
	// extension ("PJSIP/*8201@node2"), which the other node answers with
	// that mailbox's VoiceMail. Every node's engine can be given the same
	// table.
	Routes []Route
	// DialTemplate turns an extension into an Asterisk dial string;
	// "{exten}" is replaced by the extension.
	DialTemplate string
	// ExtensionPattern is a regular expression an extension must match to
	// be dialled or be a transfer destination (the default policy).
	ExtensionPattern string
	// AnswerTimeout is how long a callee or transfer target rings.
	AnswerTimeout time.Duration
	// NoAnswer is what happens to a call the callee does not answer or
	// is busy for: NoAnswerVoicemail or NoAnswerHangup.
	NoAnswer string
	// TransferNoAnswer is what happens when a blind transfer's target is
	// busy or does not answer: NoAnswerVoicemail or NoAnswerRecall.
	TransferNoAnswer string
	// TransfererHangup is what happens when a transferer hangs up the held
	// call during a consultation without pressing Tran:
	// TransfererHangupComplete or TransfererHangupRecall.
	TransfererHangup string
	// Handling chooses who performs phones' transfers: HandlingAuto (the
	// default: ari-only unless the connected Asterisk has a known ari-only
	// crash), HandlingARIOnly or HandlingCore.
	Handling string
	// CoreExtensions is a regular expression of the extensions whose
	// phones' REFERs Asterisk handles itself (PJSIP_TRANSFER_HANDLING
	// "core", the fallback to the default "ari-only"); "" means none, "."
	// every phone. transferd then follows what Asterisk did.
	CoreExtensions string
	// TransferContext is the dialplan context Asterisk looks a core-mode
	// blind transfer's number up in (TRANSFER_CONTEXT).
	TransferContext string
	// VoicemailContext is the dialplan context that runs VoiceMail(${EXTEN}).
	VoicemailContext string
	// CommandTimeout bounds each ARI request.
	CommandTimeout time.Duration

	// VoicemailCode is the DTMF feature code that starts a voicemail
	// transfer during a call, and the prefix of a REFER destination that
	// means one ("*8103").
	VoicemailCode string
	// DigitTimeout is how long transferd waits for the next digit of the
	// feature code or of the mailbox number.
	DigitTimeout time.Duration
	// VoicemailFallback is the mailbox a caller is sent to when the user
	// hung up after keying an invalid number: VoicemailFallbackTransferer
	// (the user's own mailbox) or an extension.
	VoicemailFallback string
	// MailboxContext is the voicemail.conf context of the mailboxes (the
	// dialplan's VoiceMail(${EXTEN}@default)).
	MailboxContext string
	// ReferOnlyExtensions is a regular expression of the extensions whose
	// users transfer to voicemail only with Tran + code + extension (a
	// REFER), never by keying the code during a call; "" means none (the
	// default), "." every phone (an outside party counts by its number).
	// transferd ignores the code keyed on such phones, and a call between
	// two of them gets a plain bridge, which Asterisk bridges natively
	// (native_rtp: audio relayed without decoding, about 40 % less
	// Asterisk CPU per call-minute) instead of one that decodes every
	// frame to hear DTMF (mixing,dtmf_events: simple_bridge). A plain
	// bridge is replaced by one that hears DTMF when a transfer brings in
	// a party who keys the code.
	ReferOnlyExtensions string
	// InfoDTMFExtensions is a regular expression of the extensions whose
	// phones send DTMF as SIP INFO (their endpoints' dtmf_mode = info);
	// "" means none (the default). Asterisk reports their digits in any
	// bridge, so a call between such phones (or with refer-only ones)
	// gets a plain bridge too, and the code keyed on them is heard.
	InfoDTMFExtensions string

	extensionRE *regexp.Regexp
	coreRE      *regexp.Regexp // nil: no phone uses core handling
	referOnlyRE *regexp.Regexp // nil: every phone keys the code in calls
	infoDTMFRE  *regexp.Regexp // nil: no phone sends DTMF as SIP INFO
}

// plainBridgeServes reports whether a plain bridge (no DTMF events) serves
// a phone: its user never keys the code during a call, or its digits
// come as SIP INFO, which Asterisk reports whatever the bridge.
func (c *Config) plainBridgeServes(exten string) bool {
	return !c.keysCodeInCall(exten) || (c.infoDTMFRE != nil && c.infoDTMFRE.MatchString(exten))
}

// keysCodeInCall reports whether the user of a phone may key the
// voicemail code during a call (ReferOnlyExtensions).
func (c *Config) keysCodeInCall(exten string) bool {
	return c.referOnlyRE == nil || !c.referOnlyRE.MatchString(exten)
}

// Validate fills defaults and returns an error naming the first bad key.
func (c *Config) Validate() error {
	if c.App == "" {
		c.App = "transferd"
	}
	if c.DialTemplate == "" {
		c.DialTemplate = DefaultDialTemplate
	}
	if !strings.Contains(c.DialTemplate, "{exten}") {
		return fmt.Errorf("calls.dial_template %q: must contain {exten}", c.DialTemplate)
	}
	if c.ExtensionPattern == "" {
		c.ExtensionPattern = DefaultExtensionPattern
	}
	re, err := regexp.Compile(c.ExtensionPattern)
	if err != nil {
		return fmt.Errorf("calls.extension_pattern %q: %w", c.ExtensionPattern, err)
	}
	c.extensionRE = re
	for i := range c.Routes {
		if err := c.Routes[i].compile(); err != nil {
			return fmt.Errorf("routes[%d]: %w", i, err)
		}
	}
	// Per-phone choices: a regular expression of extensions, "" for none.
	for _, choice := range []struct {
		key  string
		expr string
		re   **regexp.Regexp
	}{
		{"transfer.core_extensions", c.CoreExtensions, &c.coreRE},
		{"voicemail.refer_only_extensions", c.ReferOnlyExtensions, &c.referOnlyRE},
		{"voicemail.info_dtmf_extensions", c.InfoDTMFExtensions, &c.infoDTMFRE},
	} {
		*choice.re = nil
		if choice.expr == "" {
			continue
		}
		re, err := regexp.Compile(choice.expr)
		if err != nil {
			return fmt.Errorf("%s %q: %w", choice.key, choice.expr, err)
		}
		*choice.re = re
	}
	switch c.Handling {
	case "":
		c.Handling = HandlingAuto
	case HandlingAuto, HandlingARIOnly, HandlingCore:
	default:
		return fmt.Errorf("transfer.handling %q: must be %q, %q or %q", c.Handling, HandlingAuto, HandlingARIOnly, HandlingCore)
	}
	if c.TransferContext == "" {
		c.TransferContext = DefaultTransferContext
	}
	if c.AnswerTimeout == 0 {
		c.AnswerTimeout = DefaultAnswerTimeout
	}
	if c.AnswerTimeout < time.Second {
		return fmt.Errorf("calls.answer_timeout %s: must be at least 1s", c.AnswerTimeout)
	}
	for _, choice := range []struct {
		key     string
		value   *string
		allowed [2]string // the first is the default
	}{
		{"calls.no_answer", &c.NoAnswer, [2]string{NoAnswerVoicemail, NoAnswerHangup}},
		{"transfer.no_answer", &c.TransferNoAnswer, [2]string{NoAnswerVoicemail, NoAnswerRecall}},
		{"transfer.transferer_hangup", &c.TransfererHangup, [2]string{TransfererHangupComplete, TransfererHangupRecall}},
	} {
		switch *choice.value {
		case "":
			*choice.value = choice.allowed[0]
		case choice.allowed[0], choice.allowed[1]:
		default:
			return fmt.Errorf("%s %q: must be %q or %q", choice.key, *choice.value, choice.allowed[0], choice.allowed[1])
		}
	}
	if c.VoicemailContext == "" {
		c.VoicemailContext = DefaultVoicemailContext
	}
	if c.VoicemailCode == "" {
		c.VoicemailCode = DefaultVoicemailCode
	}
	if strings.Trim(c.VoicemailCode, "0123456789*#") != "" {
		return fmt.Errorf("voicemail.code %q: only DTMF digits 0-9, * and # are allowed", c.VoicemailCode)
	}
	if c.DigitTimeout == 0 {
		c.DigitTimeout = DefaultDigitTimeout
	}
	if c.DigitTimeout < 500*time.Millisecond || c.DigitTimeout > time.Minute {
		return fmt.Errorf("voicemail.digit_timeout %s: must be between 500ms and 1m", c.DigitTimeout)
	}
	if c.VoicemailFallback == "" {
		c.VoicemailFallback = VoicemailFallbackTransferer
	}
	if c.VoicemailFallback != VoicemailFallbackTransferer && strings.Trim(c.VoicemailFallback, "0123456789") != "" {
		return fmt.Errorf("voicemail.fallback %q: must be %q or an extension", c.VoicemailFallback, VoicemailFallbackTransferer)
	}
	if c.MailboxContext == "" {
		c.MailboxContext = DefaultMailboxContext
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = DefaultCommandTimeout
	}
	if c.CommandTimeout < 0 {
		return errors.New("ari.command_timeout: must be positive")
	}
	return nil
}

// Route sends the extensions matching a pattern to the Asterisk node that
// hosts them (Config.Routes).
type Route struct {
	// Extensions is a regular expression of the node's extensions.
	Extensions string
	// Node is the node that hosts them (as transferd names it: the path
	// of its outbound websocket, or ari.node).
	Node string
	// Dial turns an extension into the dial string that reaches the node
	// from the others; "{exten}" is replaced by the extension.
	Dial string

	extensionsRE *regexp.Regexp
}

// mailboxElsewhere returns the dial string that reaches exten's voicemail
// on the node that hosts the extension, when that is another node: the
// Dial of the first route to another node whose pattern takes exten, with
// "{exten}" replaced by the voicemail code and the extension
// ("PJSIP/*8201@node2"). The other node answers it with VoiceMail in the
// context its trunk's calls arrive in (README, "Scale out"), and says
// itself whether the mailbox exists. ok is false for this node's
// mailboxes. (Routes are the configuration's: a custom Router's
// extensions elsewhere need routes too for their voicemail.)
func (c *Config) mailboxElsewhere(exten string) (dial string, ok bool) {
	r, ok := c.routeElsewhere(exten)
	if !ok {
		return "", false
	}
	return strings.ReplaceAll(r.Dial, "{exten}", c.VoicemailCode+exten), true
}

// routeElsewhere is the route that takes exten to another node, if one
// does (the first that matches).
func (c *Config) routeElsewhere(exten string) (Route, bool) {
	for _, r := range c.Routes {
		if r.Node != c.Node && r.extensionsRE != nil && r.extensionsRE.MatchString(exten) {
			return r, true
		}
	}
	return Route{}, false
}

// remoteAnswerMargin: an extension on another node rings that much longer
// here than there, so that the node hosting it decides what its no
// answer means (its voicemail, which holds the extension's mailbox,
// answers the trunk call), not this one, whose voicemail does not.
const remoteAnswerMargin = 5 * time.Second

// dialTimeout is how long a leg to exten may ring.
func (c *Config) dialTimeout(exten string) time.Duration {
	if _, elsewhere := c.routeElsewhere(exten); elsewhere {
		return c.AnswerTimeout + remoteAnswerMargin
	}
	return c.AnswerTimeout
}

func (r *Route) compile() error {
	if r.Node == "" {
		return errors.New("node: missing (the node that hosts the extensions)")
	}
	if !strings.Contains(r.Dial, "{exten}") {
		return fmt.Errorf("dial %q: must contain {exten} (e.g. PJSIP/{exten}@%s over a trunk to the node)", r.Dial, r.Node)
	}
	re, err := regexp.Compile(r.Extensions)
	if err != nil || r.Extensions == "" {
		return fmt.Errorf("extensions %q: want a regular expression of node %s's extensions: %v", r.Extensions, r.Node, err)
	}
	r.extensionsRE = re
	return nil
}
