package transfer

import "strings"

// How an adopted call carries on, decided purely from what was found of
// it in Asterisk (planAdoption); the owner carries the plan out
// (onAdoption, adoption.go). The transcripts in testdata/adoption tell
// each case.

// foundLeg is one channel of an adopted call as Asterisk showed it.
type foundLeg struct {
	id       string
	exten    string
	created  bool // transferd created it for this call
	inBridge bool // a member of the call's bridge
	answered bool // state Up
	down     bool // created and state Down, not marked dialled: perhaps never dialled
	// keyed: the *8 entry recorded on a party held for it ("" none).
	keyed string
	// refer: a REFER of this leg's phone is on record, not settled.
	refer bool
	// phone: a SIP channel (PJSIP/…, not Local) with ari-only transfer
	// handling: a REFER of its phone (or trunk) would reach transferd.
	phone bool
}

// adoptionCase is what the call was doing, as its people experienced it.
type adoptionCase int

const (
	// adoptTalking: two parties in the bridge talk.
	adoptTalking adoptionCase = iota
	// adoptKeying: a *8 is being keyed: the user goes on keying.
	adoptKeying
	// adoptKeyedAlone: the user hung up after keying, while nobody
	// listened: the held party goes to the mailbox keyed.
	adoptKeyedAlone
	// adoptAnsweredUnheard: the callee answered while nobody listened;
	// its caller, not answered yet, still hears ringback: connect them.
	adoptAnsweredUnheard
	// adoptUnheld: a party held out of the bridge with no *8 entry
	// recorded (keyed when the predecessor could not record it): it
	// rejoins; they talk again.
	adoptUnheld
	// adoptTargetAnswered: a blind transfer's target answered while
	// nobody listened: connect it.
	adoptTargetAnswered
	// adoptTargetRinging: a blind transfer's target (or a recall) rings.
	adoptTargetRinging
	// adoptRinging: the caller hears ringback while the callee rings.
	adoptRinging
	// adoptSettingUp: the call was being set up (no callee leg yet): set
	// it up again.
	adoptSettingUp
	// adoptCannotContinue: anything else: what is left of the call ends.
	adoptCannotContinue
)

var adoptionCaseNames = [...]string{"talking", "keying", "keyed-alone", "answered-unheard", "unheld",
	"target-answered", "target-ringing", "ringing", "setting-up", "cannot-continue"}

func (k adoptionCase) String() string { return adoptionCaseNames[k] }

// adoptionPlan is how an adopted call carries on: its case, the parties'
// channels, what to hang up, the transferers owed their final NOTIFY, a
// leg to dial if it never was, whether REFERs on record are resumed, and
// the parties to probe for a REFER the predecessor lost.
type adoptionPlan struct {
	kind                   adoptionCase
	caller, callee, target string
	keyed                  string // the *8 entry to resume
	hangUp                 []string
	tell                   []string
	dial                   string
	resumeRefers           bool
	// probe: the parties whose phone may have sent a REFER the
	// predecessor read and never recorded (killed in between): Asterisk
	// is asked whether one is pending (referprobe.go). Only the two
	// parties of a call that goes on talking (a REFER is only carried out
	// from there), SIP channels with no REFER on record (those are
	// resumed).
	probe []string
}

// planAdoption decides how a call found in Asterisk carries on.
func planAdoption(found []foundLeg) adoptionPlan {
	// members: in the bridge; outside: a party (not created by transferd)
	// out of the bridge; up, ringing: legs transferd dialled, answered or
	// not. A callee ringing in the call's bridge counts as ringing.
	var members, outside, up, ringing []foundLeg
	for _, l := range found {
		switch {
		case l.inBridge && !(l.created && !l.answered):
			members = append(members, l)
		case !l.inBridge && !l.created:
			outside = append(outside, l)
		case !l.inBridge && l.answered:
			up = append(up, l)
		default:
			ringing = append(ringing, l)
		}
	}
	if len(members) == 3 {
		// An attended transfer completed halfway: the colleague joined
		// the transferee's bridge and the transferer (its REFER on
		// record) has not left it yet. The two others talk; the
		// transferer is told, as one found beside them (load harness: a
		// replica killed there; everyone was hung up, the caller too).
		if i := onlyReferring(members); i >= 0 {
			members = append(members[:i:i], members[i+1:]...)
		}
	}
	others := func(keep ...string) []string {
		var out []string
		for _, l := range found {
			if !strings.Contains(" "+strings.Join(keep, " ")+" ", " "+l.id+" ") {
				out = append(out, l.id)
			}
		}
		return out
	}
	switch {
	case len(members) == 2:
		p := adoptionPlan{kind: adoptTalking, caller: members[0].id, callee: members[1].id, resumeRefers: true}
		if members[0].created && !members[1].created {
			p.caller, p.callee = members[1].id, members[0].id
		}
		for _, l := range found {
			if l.id == p.caller || l.id == p.callee {
				continue
			}
			if l.answered && (!l.created || l.refer) {
				// A phone's leg beside a talking pair: a transferer whose
				// transfer completed while its final NOTIFY was still held
				// back (destroyWait). (A leg transferd created, a blind
				// transfer's target transferring on, is one only if its
				// REFER is on record.)
				p.tell = append(p.tell, l.id)
				continue
			}
			p.hangUp = append(p.hangUp, l.id)
		}
		p.probe = probeable(found, p.caller, p.callee)
		return p
	case len(members) == 1 && len(outside) == 1 && outside[0].keyed != "":
		return adoptionPlan{kind: adoptKeying, caller: outside[0].id, callee: members[0].id, keyed: outside[0].keyed,
			hangUp: others(outside[0].id, members[0].id), probe: probeable(found, outside[0].id, members[0].id)}
	case len(members) == 0 && len(outside) == 1 && outside[0].keyed != "":
		return adoptionPlan{kind: adoptKeyedAlone, caller: outside[0].id, keyed: outside[0].keyed, hangUp: others(outside[0].id)}
	case len(members) == 1 && len(outside) == 1 && !outside[0].answered && members[0].created:
		return adoptionPlan{kind: adoptAnsweredUnheard, caller: outside[0].id, callee: members[0].id,
			hangUp: others(outside[0].id, members[0].id)}
	case len(members) == 1 && len(outside) == 1:
		return adoptionPlan{kind: adoptUnheld, caller: outside[0].id, callee: members[0].id,
			hangUp: others(outside[0].id, members[0].id), resumeRefers: true, probe: probeable(found, outside[0].id, members[0].id)}
	case len(members) == 1 && len(up) == 1:
		return adoptionPlan{kind: adoptTargetAnswered, caller: members[0].id, target: up[0].id,
			hangUp: others(members[0].id, up[0].id)}
	case len(members) == 1 && len(ringing) >= 1:
		p := adoptionPlan{kind: adoptTargetRinging, caller: members[0].id, target: ringing[0].id,
			hangUp: others(members[0].id, ringing[0].id)}
		if ringing[0].down {
			p.dial = ringing[0].id
		}
		return p
	case len(members) == 0 && len(outside) == 1 && len(ringing) == 1:
		p := adoptionPlan{kind: adoptRinging, caller: outside[0].id, callee: ringing[0].id}
		if ringing[0].down {
			p.dial = ringing[0].id
		}
		return p
	case len(members) == 0 && len(outside) == 1 && len(ringing) == 0 && len(up) == 0 && !outside[0].answered:
		return adoptionPlan{kind: adoptSettingUp, caller: outside[0].id}
	}
	return adoptionPlan{kind: adoptCannotContinue, hangUp: others()}
}

// onlyReferring returns the index of the one leg among legs with a REFER
// on record, or -1 if none or several have one.
func onlyReferring(legs []foundLeg) int {
	found := -1
	for i, l := range legs {
		if l.refer {
			if found >= 0 {
				return -1
			}
			found = i
		}
	}
	return found
}

// probeable returns those of the parties ids that may have a REFER
// pending that nobody recorded: answered SIP channels with no REFER on
// record. (A phone whose REFER was read and lost is still in its call:
// Asterisk answered it 202 and waits for transferd's report.)
func probeable(found []foundLeg, ids ...string) []string {
	var out []string
	for _, id := range ids {
		for _, l := range found {
			if l.id == id && l.phone && l.answered && !l.refer {
				out = append(out, id)
			}
		}
	}
	return out
}

func (p adoptionPlan) String() string {
	kv := []string{}
	for _, f := range [][2]string{{"caller", p.caller}, {"callee", p.callee}, {"target", p.target}, {"keyed", p.keyed},
		{"dial", p.dial}} {
		if f[1] != "" {
			kv = append(kv, f[0], f[1])
		}
	}
	s := words(p.kind.String(), kv, flag(p.resumeRefers, "resume-refers"))
	if len(p.hangUp) > 0 {
		s += " hangup=" + strings.Join(p.hangUp, ",")
	}
	if len(p.tell) > 0 {
		s += " tell=" + strings.Join(p.tell, ",")
	}
	if len(p.probe) > 0 {
		s += " probe=" + strings.Join(p.probe, ",")
	}
	return s
}

func (l foundLeg) String() string {
	kv := []string{"exten", l.exten}
	if l.keyed != "" {
		kv = append(kv, "keyed", l.keyed)
	}
	return words("found "+l.id, kv,
		flag(l.created, "created"), flag(l.inBridge, "in-bridge"), flag(l.answered, "answered"), flag(l.down, "down"),
		flag(l.refer, "refer"), flag(l.phone, "phone"))
}
