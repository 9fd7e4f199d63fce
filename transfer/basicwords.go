package transfer

import (
	"fmt"
	"strconv"
)

// The inputs and commands of the basic call's machine (basicmachine.go),
// each printed as the owner logs it and as the transcripts in
// testdata/basic_call write it.

// A basicInput is something the basic call learns from its owner.
type basicInput interface {
	fmt.Stringer
	basicInput()
}

// callerArrived: a phone's call entered Stasis, dialling an extension.
// clearTimeout: the dialplan bounded its wait for a transferd with an
// absolute timeout, which taking the call must clear. core: the caller's
// phone has core transfer handling (Config.CoreExtensions) though the
// dialplan chose ari-only.
type callerArrived struct {
	caller       party
	dialled      string
	clearTimeout bool
	core         bool
	// callerPlain, dialledPlain: a plain bridge serves the phone: its
	// user never keys the voicemail code during a call
	// (Config.ReferOnlyExtensions), or its digits come as SIP INFO
	// (Config.InfoDTMFExtensions).
	callerPlain, dialledPlain bool
}

// calleeRouted: the result of routeCallee: the dial string that reaches
// the dialled extension, or (reason) why none does.
type calleeRouted struct {
	dialString string
	reason     string // "" when routed
}

// bridgeCreated: the result of createBridge.
type bridgeCreated struct{ ok bool }

// calleeDialled: the result of createCallee: its channel, or (reason) why
// it could not be created.
type calleeDialled struct {
	channel string
	reason  string // "" when created
}

// endpointChecked: the result of checkEndpoint: whether the dialled
// extension's endpoint exists (it is then only not registered).
type endpointChecked struct{ exists bool }

// calleeInStasis: the callee's channel entered Stasis: it can be put in
// the bridge and dialled.
type calleeInStasis struct{ channel string }

// calleeRang: the result of dialCallee: the callee rings (ok), or Asterisk
// refused to dial it.
type calleeRang struct{ ok bool }

// calleeAnswered: the callee answered.
type calleeAnswered struct{ channel string }

// callerAnswered: the result of answerCaller.
type callerAnswered struct{ ok bool }

// calleeFailed: a Dial status says the callee will not answer (BUSY,
// NOANSWER, CHANUNAVAIL, CONGESTION).
type calleeFailed struct{ status string }

// ringingAdopted: a successor adopted the call while its callee rang
// (or was about to).
type ringingAdopted struct {
	caller, callee, dialled string
	calleeInBridge          bool
}

func (callerArrived) basicInput()   {}
func (ringingAdopted) basicInput()  {}
func (calleeRouted) basicInput()    {}
func (bridgeCreated) basicInput()   {}
func (calleeDialled) basicInput()   {}
func (endpointChecked) basicInput() {}
func (calleeInStasis) basicInput()  {}
func (calleeRang) basicInput()      {}
func (calleeAnswered) basicInput()  {}
func (callerAnswered) basicInput()  {}
func (calleeFailed) basicInput()    {}
func (joined) basicInput()          {}
func (legHungUp) basicInput()       {}
func (callEnded) basicInput()       {}
func (partyReplaced) basicInput()   {}

func (in callerArrived) String() string {
	return words("arrived", []string{"caller", in.caller.String(), "dialled", in.dialled},
		flag(in.clearTimeout, "clear-timeout"), flag(in.core, "core"),
		flag(in.callerPlain, "caller-plain"), flag(in.dialledPlain, "dialled-plain"))
}
func (in ringingAdopted) String() string {
	return words("ringing-adopted", []string{"caller", in.caller, "callee", in.callee, "dialled", in.dialled},
		flag(in.calleeInBridge, "callee-in-bridge"))
}
func (in calleeRouted) String() string {
	if in.reason != "" {
		return "not-routed " + strconv.Quote(in.reason)
	}
	return "routed " + in.dialString
}
func (in bridgeCreated) String() string {
	if in.ok {
		return "bridge-created"
	}
	return "bridge-not-created"
}
func (in calleeDialled) String() string {
	if in.reason != "" {
		return "callee-not-created " + strconv.Quote(in.reason)
	}
	return "callee-created " + in.channel
}
func (in endpointChecked) String() string {
	if in.exists {
		return "endpoint-exists"
	}
	return "no-such-endpoint"
}
func (in calleeInStasis) String() string { return "in-stasis " + in.channel }
func (in calleeRang) String() string {
	if in.ok {
		return "callee-dialled"
	}
	return "callee-dial-failed"
}
func (in calleeAnswered) String() string { return "callee-answered " + in.channel }
func (in callerAnswered) String() string {
	if in.ok {
		return "caller-answered"
	}
	return "caller-answer-failed"
}
func (in calleeFailed) String() string { return "callee-failed " + in.status }

// A basicCommand is something the basic call asks its owner to do.
type basicCommand interface {
	fmt.Stringer
	basicCommand()
}

// clearWaitTimeout: clear the caller's absolute timeout (left set, it
// would take the call into the dialplan's plain-call fallback).
type clearWaitTimeout struct{ channel string }

// markCaller: mark the caller's channel as this call's, for a successor
// that adopts the call (created legs carry it from their creation).
type markCaller struct{ channel string }

// setCoreHandling: give the caller's phone core transfer handling.
type setCoreHandling struct{ channel string }

// routeCallee: look the dialled extension up (the Router); feed
// calleeRouted.
type routeCallee struct{ exten string }

// createBridge: create the call's bridge; feed bridgeCreated. A plain
// bridge does not hear DTMF (Asterisk may bridge it natively).
type createBridge struct{ plain bool }

// createCallee: create the callee's channel (to be dialled once in
// Stasis); feed calleeDialled.
type createCallee struct{ exten, dialString string }

// checkEndpoint: ask whether the dial string's endpoint exists; feed
// endpointChecked.
type checkEndpoint struct{ dialString string }

// startRingback (blindwords.go) plays ringing to the caller.

// dialCallee: dial the callee's channel; feed calleeRang.
type dialCallee struct{ channel string }

// answerCaller: answer the caller's channel; feed callerAnswered.
type answerCaller struct{ channel string }

// failCall: hang the caller up with an ARI hangup reason its phone shows
// ("busy" → 486, "unallocated" → 404, "congestion" → 503, "no_answer"),
// and end the call.
type failCall struct{ reason string }

// nowTalking: caller and callee talk; the call is talking.
type nowTalking struct{}

func (clearWaitTimeout) basicCommand() {}
func (markCaller) basicCommand()       {}
func (setCoreHandling) basicCommand()  {}
func (routeCallee) basicCommand()      {}
func (createBridge) basicCommand()     {}
func (createCallee) basicCommand()     {}
func (checkEndpoint) basicCommand()    {}
func (dialCallee) basicCommand()       {}
func (answerCaller) basicCommand()     {}
func (failCall) basicCommand()         {}
func (nowTalking) basicCommand()       {}
func (startRingback) basicCommand()    {}
func (joinBridge) basicCommand()       {}
func (hangupLeg) basicCommand()        {}
func (sendToVoicemail) basicCommand()  {}
func (endCall) basicCommand()          {}

func (c clearWaitTimeout) String() string { return "clear-wait-timeout " + c.channel }
func (c markCaller) String() string       { return "mark-caller " + c.channel }
func (c setCoreHandling) String() string  { return "set-core-handling " + c.channel }
func (c routeCallee) String() string      { return "route " + strconv.Quote(c.exten) }
func (c createBridge) String() string {
	if c.plain {
		return "create-bridge plain"
	}
	return "create-bridge"
}
func (c createCallee) String() string {
	return "create-callee " + strconv.Quote(c.exten) + " " + c.dialString
}
func (c checkEndpoint) String() string { return "check-endpoint " + c.dialString }
func (c dialCallee) String() string    { return "dial " + c.channel }
func (c answerCaller) String() string  { return "answer-caller " + c.channel }
func (c failCall) String() string      { return "fail " + c.reason }
func (nowTalking) String() string      { return "now-talking" }
