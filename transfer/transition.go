package transfer

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logTransition writes a machine's one line per transition: from-state,
// input, to-state and the commands, the call's fields coming with log.
// The commands' names are built only when the line is written.
func logTransition[C fmt.Stringer](log *zap.Logger, level zapcore.Level, machine string, from, in, to fmt.Stringer, cmds []C) {
	ce := log.Check(level, machine)
	if ce == nil {
		return
	}
	names := make([]string, len(cmds))
	for i, cmd := range cmds {
		names[i] = cmd.String()
	}
	ce.Write(zap.Stringer("from", from), zap.Stringer("input", in), zap.Stringer("to", to), zap.Strings("commands", names))
}

// machineRun is what drives one machine of a call: its name for the log,
// where its state lives, its step, the owner's executor of its commands,
// and which inputs are routine (logged at Debug: a request that went as
// expected). changed, when set, sees every transition.
type machineRun[M, I interface {
	comparable
	fmt.Stringer
}, C fmt.Stringer] struct {
	name    string
	state   *M
	step    func(M, I) (M, []C)
	exec    func(C) I
	routine func(I) bool
	changed func(from, to M)
}

// run applies in, logs the transition (one line: from-state, input,
// to-state, commands) and executes the commands in order. A command with
// a result — always the last of its batch — has it fed back at once,
// before any other input. It reports whether the machine took in.
func (r machineRun[M, I, C]) run(log *zap.Logger, in I) bool {
	var none I
	took := false
	for in != none {
		from := *r.state
		next, cmds := r.step(from, in)
		*r.state = next
		if next == from && len(cmds) == 0 {
			if ce := log.Check(zapcore.DebugLevel, "input ignored"); ce != nil {
				ce.Write(zap.String("machine", r.name), zap.Stringer("state", from), zap.Stringer("input", in))
			}
			return took
		}
		took = true
		if r.changed != nil {
			r.changed(from, next)
		}
		level := zapcore.InfoLevel
		if r.routine != nil && r.routine(in) {
			level = zapcore.DebugLevel
		}
		if log.Core().Enabled(level) {
			// (Checked first: passing the states as fmt.Stringer boxes
			// them, an allocation per step even with the line off.)
			logTransition(log, level, r.name, from, in, next, cmds)
		}
		in = none
		for i, cmd := range cmds {
			result := r.exec(cmd)
			if result != none && i != len(cmds)-1 {
				log.Error("a command with a result is not the last of its batch", zap.String("machine", r.name), zap.Stringer("command", cmd))
			}
			if result != none {
				in = result
			}
		}
	}
	return took
}
