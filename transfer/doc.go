// Package transfer is transferd's call and transfer engine.
//
// Every call a phone places into the Stasis application gets one owner
// goroutine. The Engine reads ARI events in the order Asterisk sent them and
// puts each into the mailbox of the call whose channel or bridge it names;
// the owner handles its inputs one at a time, so a call's state needs no
// lock and the order of events is the order of decisions.
//
// A call rings the dialled extension (Router: extension → dial string) while
// the caller hears ringback, bridges both on answer, and ends the way a PBX
// user expects: busy → busy (SIP 486), no such extension → 404, no answer →
// the callee's voicemail (or hang up, as configured). A phone's hold puts
// the other party on Asterisk's music on hold.
//
// Blind transfer (Tran, number, Tran): the phone's REFER reaches transferd
// as a ChannelTransfer event (PJSIP_TRANSFER_HANDLING()=ari-only). The
// Policy decides whether the destination is allowed (default: internal
// extensions only); a refused or unknown destination is reported to the
// phone (NOTIFY 603 / 503) and the call goes on. An accepted one is
// reported as done (NOTIFY 200), the transferer's leg leaves, the
// transferee hears ringback while the target rings, and the two talk when
// the target answers. A busy or unanswered target sends the transferee to
// the target's voicemail, or rings the transferer back (recall). These
// decisions are a pure state machine (blindmachine.go, its inputs and
// commands in blindwords.go) that the call's owner steps and executes.
//
// Phones listed in Config.CoreExtensions use Asterisk's own ("core") REFER
// handling instead, the fallback while ari-only is young: Asterisk performs
// the transfer and the engine follows it (native.go), ending in the same
// state as above.
//
// Voicemail transfer in a call (*8, mailbox number, # or hang up): the
// digits go to the voicemail entry (vmentry.go), a pure state machine the
// owner steps, logging each transition, and whose commands (hold with
// music, record the entry, start the digit timer, send to the mailbox) it
// executes. The transfer logic is moving to such machines (issue #21);
// machines_test.go lists their files and keeps them free of I/O.
//
// Everything the engine creates in Asterisk carries recognisable ids
// ("<app>-<call>-<kind><n>") and the channel variables TRANSFERD_CALL and
// TRANSFERD_ROLE, so a restarted transferd can find its calls.
//
// Stopping the engine (cancelling Run's context) does not hang up calls.
package transfer
