package main

import (
	"context"
	"fmt"
	"time"
)

// replicaKilled is the demo's scene with --replicas: 101 and 102 talk, the
// replica serving Asterisk is SIGKILLed (as a crash or the OOM killer
// would), another replica adopts the call, and the two go on talking.
func (d *demo) replicaKilled(kill func(context.Context) (takeover, error)) error {
	a, c, err := d.call("101", "102")
	if err != nil {
		return err
	}
	d.say("the replica serving Asterisk is killed (kill -9) while they talk")
	t, err := kill(d.ctx)
	if err != nil {
		return fmt.Errorf("kill the serving replica: %w", err)
	}
	d.say("replica %s is gone; Asterisk reconnects through HAProxy: replica %s serves %s after the kill and adopts the call",
		t.killed, t.serving, t.after.Round(time.Millisecond))
	if err := d.talk("101", a, "102", c); err != nil {
		return fmt.Errorf("after the takeover: %w", err)
	}
	d.say("the call went on; 101 hangs up")
	a.Hangup(d.ctx)
	return c.WaitEnded(d.ctx)
}
