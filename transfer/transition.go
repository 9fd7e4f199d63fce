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
