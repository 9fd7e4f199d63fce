package transfer

import (
	"fmt"
	"strconv"
	"strings"
)

// The inputs and commands of an attended transfer's machine
// (attendedmachine.go), each printed as the owner logs it and as the
// transcripts in testdata/attended_transfer write it: a name, then
// key=value words, then flags.

// An attendedInput is something the attended transfer learns from its
// owner.
type attendedInput interface {
	fmt.Stringer
	attendedInput()
}

// attendedReferred: the transferer's phone sent a REFER with Replaces
// while the call talks (the owner declines one in any other state), or
// Asterisk completed an attended transfer itself (byAsterisk, core
// handling: the transferer is then the Local channel Asterisk linked the
// two calls with, and its phone has been told).
type attendedReferred struct {
	transferer party
	transferee string
	bridge     string // the call's bridge
	// consultID is the consultation leg the REFER's Replaces named (""
	// when Asterisk found no dialog for it); consultation is the call
	// holding it ("" when transferd handles no such call, or it is this
	// one).
	consultID    string
	consultation string
	byAsterisk   bool
}

// transfererLeftHolding: the transferer hung up while holding the
// transferee, with a consultation call of its phone going on. The
// transfer completes without a REFER, or (recall) the consultation ends
// and the transferer's phone is rung back.
type transfererLeftHolding struct {
	transferer   party
	transferee   string
	bridge       string
	consultation string
	recall       bool
}

// handOverAsked: the result of askHandOver: the request reached the
// consultation call (ok), or its owner had already finished.
type handOverAsked struct{ ok bool }

// consultationMerged: the consultation call handed itself over (its legs
// are this call's now). canComplete: the transferee is still there, its
// hangup not queued, and the call still talks.
type consultationMerged struct {
	consultation string
	bridge       string // the consultation's bridge
	consult      string // the transferer's consultation leg
	colleague    party
	talking      bool // the colleague answered
	consultLive  bool
	// consultUnanswered: the consultation leg is the transferer's own
	// call, which transferd answers only once the colleague does.
	consultUnanswered bool
	colleagueInBridge bool
	canComplete       bool
}

// completedAtOnce: the result of completeAtOnce: the colleague joined
// the transferee's bridge (joined), or could not (it hung up in that
// instant; colleagueLive says whether its leg is still there).
type completedAtOnce struct{ joined, colleagueLive bool }

// consultDestroyed: Asterisk destroyed a channel of the call.
type consultDestroyed struct{ channel string }

// tellDue: the wait for the consultation leg's destruction ran out
// (startTellTimer).
type tellDue struct{ consult string }

// tellNow: the call is about to hand itself over to another call: an
// outcome still owed to a transferer's phone is told now.
type tellNow struct{}

func (attendedReferred) attendedInput()      {}
func (transfererLeftHolding) attendedInput() {}
func (handOverAsked) attendedInput()         {}
func (handOverRefused) attendedInput()       {}
func (consultationMerged) attendedInput()    {}
func (completedAtOnce) attendedInput()       {}
func (joined) attendedInput()                {}
func (legHungUp) attendedInput()             {}
func (consultDestroyed) attendedInput()      {}
func (tellDue) attendedInput()               {}
func (tellNow) attendedInput()               {}
func (callEnded) attendedInput()             {}
func (partyReplaced) attendedInput()         {}

// words prints a name, key=value pairs (values quoted when empty or
// spaced) and flags: one line the transcripts can read back.
func words(name string, kv []string, flags ...string) string {
	var b strings.Builder
	b.WriteString(name)
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		if v == "" || strings.ContainsAny(v, " \"=") {
			v = strconv.Quote(v)
		}
		b.WriteString(" " + kv[i] + "=" + v)
	}
	for _, f := range flags {
		if f != "" {
			b.WriteString(" " + f)
		}
	}
	return b.String()
}

// flag is name when on, "" (left out) when off.
func flag(on bool, name string) string {
	if on {
		return name
	}
	return ""
}

func (in attendedReferred) String() string {
	return words("attended-refer", []string{"from", in.transferer.String(), "transferee", in.transferee, "bridge", in.bridge,
		"replaces", in.consultID, "consultation", in.consultation}, flag(in.byAsterisk, "by-asterisk"))
}
func (in transfererLeftHolding) String() string {
	return words("transferer-left-holding", []string{"from", in.transferer.String(), "transferee", in.transferee,
		"bridge", in.bridge, "consultation", in.consultation}, flag(in.recall, "recall"))
}
func (in handOverAsked) String() string {
	if in.ok {
		return "hand-over-asked"
	}
	return "hand-over-not-asked"
}
func (in handOverRefused) String() string {
	return words("hand-over-refused", []string{"reason", in.reason}, flag(in.unavailable, "unavailable"))
}
func (in consultationMerged) String() string {
	return words("merged", []string{"consultation", in.consultation, "bridge", in.bridge, "consult", in.consult,
		"colleague", in.colleague.String()},
		flag(in.talking, "talking"), flag(in.consultLive, "consult-live"), flag(in.consultUnanswered, "consult-unanswered"),
		flag(in.colleagueInBridge, "colleague-in-bridge"), flag(in.canComplete, "can-complete"))
}
func (in completedAtOnce) String() string {
	if in.joined {
		return "completed-at-once"
	}
	return words("colleague-not-joined", nil, flag(in.colleagueLive, "colleague-live"))
}
func (in consultDestroyed) String() string { return "destroyed " + in.channel }
func (in tellDue) String() string          { return "tell-due " + in.consult }
func (tellNow) String() string             { return "tell-now" }

// An attendedCommand is something the attended transfer asks its owner
// to do.
type attendedCommand interface {
	fmt.Stringer
	attendedCommand()
}

// reportStarted: tell the Observer an attended transfer by transferer
// of transferee started.
type reportStarted struct{ transferer, transferee string }

// reportRefused: tell the Observer an attended transfer by transferer
// was refused before it started.
type reportRefused struct{ transferer, reason string }

// askHandOver: ask the consultation call to hand itself over (end: to
// end instead, for a recall); feed handOverAsked. Its answer comes later,
// as handOverRefused or consultationMerged.
type askHandOver struct {
	consultation, consultID, transfererExten string
	end                                      bool
}

// unlink: take this call's half of the Local pair Asterisk linked the
// calls with out, and ring the transferer back for the party left alone
// (core handling: Asterisk told the phone the transfer worked).
type unlink struct{ channel string }

// carryOn: the call cannot complete the transfer and has ended; it
// carries on as the consultation call merged into it.
type carryOn struct{ consultation string }

// completeAtOnce: what the transferer's phone waits for, as requests at
// once (each concerns its own channel): hang the consultation leg up
// (when consult is not ""), take the transferer's leg out of the call's
// bridge, add the colleague to it; feed completedAtOnce.
type completeAtOnce struct{ bridge, consult, transferer, colleague string }

// talkTo: the transferee and colleague are the call's parties now; the
// call talks.
type talkTo struct{ transferee, colleague string }

// returnTo: the transferee and transferer are the call's parties again.
type returnTo struct{ transferee, transferer string }

// ringColleague: the colleague still rings: the blind transfer's rules
// apply from here (its machine gets targetRinging, the transferee hears
// ringback).
type ringColleague struct {
	transferee string
	colleague  party
	transferer string // the transferer's extension
}

// hangupLeg: hang up one of the call's channels.
type hangupLeg struct{ channel string }

// answerLeg: answer a channel (before hanging it up: see
// attendedMachine.colleagueRings).
type answerLeg struct{ channel string }

// leaveBridge: take a channel out of a bridge.
type leaveBridge struct{ bridge, channel string }

// destroyBridge: destroy a bridge.
type destroyBridge struct{ bridge string }

// musicWhileHeld: play held music on hold until holder resumes, if
// holder's phone still holds (Asterisk does not restart it for a leg that
// comes back into the bridge).
type musicWhileHeld struct{ holder, held string }

// startTellTimer: feed tellDue for consult after destroyWait.
type startTellTimer struct{ consult string }

// stopTellTimer: the timer startTellTimer started is no longer needed.
type stopTellTimer struct{ consult string }

// hangupReplaced: hang up the phone channels Asterisk swapped out of the
// call (core handling) whose phones have not hung up.
type hangupReplaced struct{}

// ringTransfererBack: the transferer hung up and is to be rung back for
// the transferee (TransfererHangupRecall); on failure the transferee goes
// to the transferer's voicemail.
type ringTransfererBack struct{ transferer, transferee string }

func (reportStarted) attendedCommand()      {}
func (reportRefused) attendedCommand()      {}
func (askHandOver) attendedCommand()        {}
func (unlink) attendedCommand()             {}
func (carryOn) attendedCommand()            {}
func (completeAtOnce) attendedCommand()     {}
func (talkTo) attendedCommand()             {}
func (returnTo) attendedCommand()           {}
func (ringColleague) attendedCommand()      {}
func (hangupLeg) attendedCommand()          {}
func (answerLeg) attendedCommand()          {}
func (leaveBridge) attendedCommand()        {}
func (destroyBridge) attendedCommand()      {}
func (musicWhileHeld) attendedCommand()     {}
func (startTellTimer) attendedCommand()     {}
func (stopTellTimer) attendedCommand()      {}
func (hangupReplaced) attendedCommand()     {}
func (ringTransfererBack) attendedCommand() {}
func (reportProgress) attendedCommand()     {}
func (reportOutcome) attendedCommand()      {}
func (letPhoneHangUp) attendedCommand()     {}
func (stopHoldMusic) attendedCommand()      {}
func (showConnected) attendedCommand()      {}
func (joinBridge) attendedCommand()         {}
func (endCall) attendedCommand()            {}

func (c reportStarted) String() string {
	return "report-started attended by " + c.transferer + " of " + c.transferee
}
func (c reportRefused) String() string {
	return "report-refused by " + c.transferer + " " + strconv.Quote(c.reason)
}
func (c askHandOver) String() string {
	return words("ask-hand-over", []string{"consultation", c.consultation, "replaces", c.consultID, "transferer", c.transfererExten},
		flag(c.end, "end"))
}
func (c unlink) String() string  { return "unlink " + c.channel }
func (c carryOn) String() string { return "carry-on-as " + c.consultation }
func (c completeAtOnce) String() string {
	return words("complete-at-once", []string{"hangup", c.consult, "leave", c.transferer + "@" + c.bridge, "join", c.colleague})
}
func (c talkTo) String() string   { return "talk " + c.transferee + " with " + c.colleague }
func (c returnTo) String() string { return "talk " + c.transferee + " with " + c.transferer + " again" }
func (c ringColleague) String() string {
	return "ring-colleague " + c.colleague.String() + " for " + c.transferee + " transferer=" + strconv.Quote(c.transferer)
}
func (c hangupLeg) String() string      { return "hangup " + c.channel }
func (c answerLeg) String() string      { return "answer " + c.channel }
func (c leaveBridge) String() string    { return "leave " + c.channel + "@" + c.bridge }
func (c destroyBridge) String() string  { return "destroy-bridge " + c.bridge }
func (c musicWhileHeld) String() string { return "music-while-held " + c.held + " by " + c.holder }
func (c startTellTimer) String() string { return "start-tell-timer " + c.consult }
func (c stopTellTimer) String() string  { return "stop-tell-timer " + c.consult }
func (hangupReplaced) String() string   { return "hangup-replaced" }
func (c ringTransfererBack) String() string {
	return "ring-transferer-back " + c.transferer + " for " + c.transferee
}
