package transfer

import (
	"github.com/transferd/transferd/ari"
	"slices"
)

// EventTypes lists the ARI event types the engine acts on: the only ones
// a controller needs Asterisk to send (ari.Config.Events). Asterisk sends
// a Stasis app every event of its channels and bridges; two thirds of them
// are ChannelVarset, which the engine never reads (load harness: 137 of
// 211 events per transfer scenario).
func EventTypes() []string {
	return []string{
		"StasisStart", "StasisEnd", "ChannelStateChange", "Dial",
		"ChannelHangupRequest", "ChannelDestroyed", "ChannelTransfer",
		"BridgeAttendedTransfer", "ChannelDtmfReceived", "ChannelHold",
		"ChannelUnhold", "PlaybackFinished",
	}
}

// translate turns an ARI event into the engine's input and the ids of the
// channels and bridges it concerns (routing keys, most specific first). It
// is the only code that reads ARI event types; events the engine does not
// act on return a nil input. A type it reads must be in EventTypes.
func translate(app string, ev ari.Event) (ids []string, in input) {
	switch ev := ev.(type) {
	case *ari.StasisStart:
		if ev.ReplaceChannel != nil {
			// A channel swapped in by Asterisk's own (core mode) transfer,
			// never a new call.
			return []string{ev.ReplaceChannel.ID}, legReplaced{
				oldID: ev.ReplaceChannel.ID, newID: ev.Channel.ID, newName: ev.Channel.Name,
			}
		}
		return []string{ev.Channel.ID}, callArrived{
			channelID:    ev.Channel.ID,
			channelName:  ev.Channel.Name,
			callerExten:  callerExten(ev.Channel),
			callerName:   ev.Channel.Caller.Name,
			dialled:      ev.Channel.Dialplan.Exten,
			clearTimeout: slices.Contains(ev.Args, boundedWaitArg),
		}
	case *ari.ChannelStateChange:
		// The answer of a channel the engine dialled. The Dial event's
		// ANSWER cannot replace it: Asterisk publishes that for an ARI
		// dial only when the answer is read while the channel is in a
		// bridge (bridge_handle_trip), not when it is read between
		// bridges. Answering on Dial alone lost the target's answer in 3
		// of 2,655 load-test scenarios at 50 calls.
		if ev.Channel.State == "Up" {
			return []string{ev.Channel.ID}, legAnswered{channelID: ev.Channel.ID}
		}
	case *ari.Dial:
		return []string{ev.Peer.ID}, dialEnded{channelID: ev.Peer.ID, status: ev.Dialstatus}
	case *ari.ChannelHangupRequest:
		if ev.Soft {
			return nil, nil
		}
		return []string{ev.Channel.ID}, legGone{channelID: ev.Channel.ID, cause: ev.Cause}
	case *ari.StasisEnd:
		return []string{ev.Channel.ID}, legGone{channelID: ev.Channel.ID}
	case *ari.ChannelDestroyed:
		return []string{ev.Channel.ID}, legGone{channelID: ev.Channel.ID, cause: ev.Cause, destroyed: true}
	case *ari.ChannelTransfer:
		// Asterisk raises ChannelTransfer again for every transfer_progress
		// posted while a REFER is pending (res_pjsip_refer), with the
		// posted state. A final state's echo says nothing new; a
		// channel_progress echo carries the pending REFER whole: transferd
		// posts that state only to probe for a REFER its predecessor lost
		// (referprobe.go), and the owner tells the two apart.
		if ev.State != "" && ev.State != progressTrying {
			return nil, nil
		}
		req := transferRequested{
			transfererID: ev.ReferredBy.SourceChannel.ID,
			destination:  ev.ReferTo.RequestedDestination.Destination,
			replaces:     ev.ReferTo.RequestedDestination.ProtocolID,
			echo:         ev.State != "",
		}
		if ev.ReferredBy.ConnectedChannel != nil {
			req.transfereeID = ev.ReferredBy.ConnectedChannel.ID
		}
		if ev.ReferTo.ConnectedChannel != nil {
			req.targetID = ev.ReferTo.ConnectedChannel.ID
		}
		if ev.ReferTo.DestinationChannel != nil {
			req.consultID = ev.ReferTo.DestinationChannel.ID
		}
		return []string{req.transfererID, req.consultID, req.transfereeID}, req
	case *ari.BridgeAttendedTransfer:
		in := nativeAttended{result: ev.Result, destinationType: ev.DestinationType, transfererFirstLeg: ev.TransfererFirstLeg.ID}
		if ev.DestinationLinkFirstLeg != nil && ev.DestinationLinkSecondLeg != nil {
			in.links = [2]string{ev.DestinationLinkFirstLeg.ID, ev.DestinationLinkSecondLeg.ID}
		}
		ids := []string{in.links[0], in.links[1], ev.TransfererFirstLeg.ID}
		return ids, in
	case *ari.ChannelDtmfReceived:
		return []string{ev.Channel.ID}, dtmfReceived{channelID: ev.Channel.ID, digit: ev.Digit}
	case *ari.ChannelHold:
		return []string{ev.Channel.ID}, holdChanged{channelID: ev.Channel.ID, onHold: true}
	case *ari.ChannelUnhold:
		return []string{ev.Channel.ID}, holdChanged{channelID: ev.Channel.ID, onHold: false}
	case *ari.PlaybackFinished:
		return []string{ev.Playback.ID}, playbackFinished{playbackID: ev.Playback.ID}
	}
	return nil, nil
}

// callerExten is the caller's extension: its caller ID number, else the
// endpoint in its channel name.
func callerExten(ch ari.Channel) string {
	if ch.Caller.Number != "" {
		return ch.Caller.Number
	}
	return extenFromChannelName(ch.Name)
}
