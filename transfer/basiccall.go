package transfer

import (
	"context"

	"go.uber.org/zap"
)

// The basic call's owner side: it feeds the machine (basicmachine.go)
// and executes its commands (stepBasic), doing what needs Asterisk or the
// extensions.

// stepBasic applies one input to the call's basic machine, logs the
// transition and executes the commands, in order; a command with a result
// (the last of its batch) has it fed back at once.
func (c *call) stepBasic(ctx context.Context, in basicInput) {
	machineRun[basicMachine, basicInput, basicCommand]{name: "basic call", state: &c.basic, step: basicMachine.Step,
		exec: func(cmd basicCommand) basicInput { return c.execBasic(ctx, cmd) },
		// (A call's setup is a dozen steps: those that went as expected
		// log at Debug; the answer, the failures and hangups at Info.)
		routine: func(in basicInput) bool { return basicRoutine(in, c.basic) }}.run(c.log, in)
}

// execBasic executes one command of the basic call's machine and returns
// its result, for the commands that have one.
func (c *call) execBasic(ctx context.Context, cmd basicCommand) basicInput {
	switch cmd := cmd.(type) {
	case clearWaitTimeout:
		c.clearWaitTimeout(ctx)
	case markCaller:
		c.setVariable(ctx, cmd.channel, callVariable, c.id, "mark caller channel failed")
	case setCoreHandling:
		c.setCoreHandling(ctx, cmd.channel)
	case routeCallee:
		dialString, err := c.e.router.Route(ctx, cmd.exten)
		if err != nil {
			return calleeRouted{reason: err.Error()}
		}
		return calleeRouted{dialString: dialString}
	case createBridge:
		return c.createBridge(ctx, cmd.plain)
	case createCallee:
		return c.createCallee(ctx, cmd)
	case checkEndpoint:
		return c.checkEndpoint(ctx, cmd.dialString)
	case startRingback:
		c.startRingback(ctx, cmd.channel)
	case dialCallee:
		return calleeRang{ok: c.dial(ctx, c.legNamed(cmd.channel))}
	case answerCaller:
		return c.answerCaller(ctx, cmd.channel)
	case nowTalking:
		c.state = stateTalking
	case failCall:
		c.fail(ctx, cmd.reason)
	default:
		if j := c.execSharedOf(ctx, "basic call", cmd); j != nil {
			return *j
		}
	}
	return nil
}

// (The requests below are methods of their own, not cases of execBasic:
// a switch's frame holds every case's locals, and the owner goroutine's
// stack had to grow once per call to fit it.)

// setCoreHandling: the dialplan chose ari-only for every phone; this
// one falls back.
func (c *call) setCoreHandling(ctx context.Context, channel string) {
	for k, v := range c.transferHandlingVars(c.caller.exten) {
		c.setVariable(ctx, channel, k, v, "set transfer handling of caller failed")
	}
}

func (c *call) createBridge(ctx context.Context, plain bool) basicInput {
	c.bridge = c.newID(bridgeKind(plain))
	c.e.claim(c.bridge, c)
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.CreateBridge(cctx, c.bridge, c.e.cfg.App+"/"+c.id, !plain); err != nil {
		c.log.Error("create bridge failed", zap.Error(err))
		return bridgeCreated{ok: false}
	}
	return bridgeCreated{ok: true}
}

func (c *call) createCallee(ctx context.Context, cmd createCallee) basicInput {
	callee, err := c.dialLeg(ctx, "callee", cmd.exten, cmd.dialString, c.caller.id)
	if err != nil {
		c.log.Info("callee cannot be dialled", zap.String("dial_string", cmd.dialString), zap.Error(err))
		c.callee = &leg{role: "callee", exten: cmd.exten, gone: true}
		return calleeDialled{reason: err.Error()}
	}
	c.callee = callee
	return calleeDialled{channel: callee.id}
}

func (c *call) checkEndpoint(ctx context.Context, dialString string) basicInput {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	ok, err := c.e.ast.EndpointExists(cctx, dialString)
	if err != nil {
		// (Asterisk cannot say: taken as not there.)
		c.log.Warn("endpoint lookup failed", zap.String("dial_string", dialString), zap.Error(err))
	}
	return endpointChecked{exists: ok}
}

func (c *call) startRingback(ctx context.Context, channel string) {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.Ring(cctx, channel); err != nil && !isGone(err) {
		c.log.Warn("ringback to caller failed", zap.Error(err))
	}
	c.state = stateRinging
}

func (c *call) answerCaller(ctx context.Context, channel string) basicInput {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.Answer(cctx, channel); err != nil {
		c.log.Warn("answer caller failed", zap.Error(err))
		return callerAnswered{ok: false}
	}
	return callerAnswered{ok: true}
}

// basicRoutine tells a request that went as expected, while the call is
// being set up, from what people notice: the answer (talking), failures,
// hangups.
func basicRoutine(in basicInput, next basicMachine) bool {
	if next.phase == basicTalking || next.phase == basicFailed || next.phase == basicVoicemail {
		return false
	}
	switch in := in.(type) {
	case calleeRouted:
		return in.reason == ""
	case calleeDialled:
		return in.reason == ""
	case bridgeCreated, calleeRang, callerAnswered, joined:
		return true
	case callerArrived, calleeInStasis, ringingAdopted:
		return true // ("call arrived" is logged at Info with the caller's details)
	}
	return false
}

// setVariable sets a channel variable; a channel already gone is not an
// error, any other failure is warned about with what.
func (c *call) setVariable(ctx context.Context, channel, name, value, what string) {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.SetVariable(cctx, channel, name, value); err != nil && !isGone(err) {
		c.log.Warn(what, zap.String("variable", name), zap.Error(err))
	}
}

// boundedWaitArg is the Stasis() argument of a call whose wait for a
// transferd the dialplan bounded with TIMEOUT(absolute)
// (dialplan/extensions_transferd.conf, TRANSFERD_MAX_WAIT).
const boundedWaitArg = "bounded-wait"

// clearWaitTimeout clears the caller's absolute timeout the dialplan set
// to bound its wait: left set, it would take the call from transferd into
// the dialplan's plain-call fallback.
func (c *call) clearWaitTimeout(ctx context.Context) {
	cctx, cancel := c.cmdCtx(ctx)
	defer cancel()
	if err := c.e.ast.SetVariable(cctx, c.caller.id, "TIMEOUT(absolute)", "0"); err != nil && !isGone(err) {
		c.log.Error("clearing the dialplan's wait timeout failed: the call may leave for the plain-call fallback", zap.Error(err))
	}
}
