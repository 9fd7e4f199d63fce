package sandbox

import (
	"context"
	"fmt"
)

// Node is one Asterisk of a multi-node sandbox (issue 24): its name, which
// is the path of its outbound websocket uri (transferd's node name) and
// the trunk endpoint the other nodes reach it by, and its phones.
type Node struct {
	Name   string
	Phones []string
}

// StartNodes starts one sandbox per node, each connecting out (transferd's
// outbound mode) to base+"/"+name, e.g. ws://127.0.0.1:8099/ari/node1, all
// sharing one ARI password (opts.ARIPassword, or the first node's random
// one), and joins every pair with SIP trunks named like the node each
// reaches (AddTrunk): Dial PJSIP/<ext>@<node> from any node calls there.
// opts applies to every node but its Phones and Outbound. On error the
// nodes already started are stopped.
func StartNodes(ctx context.Context, nodes []Node, base string, opts Options) ([]*Sandbox, error) {
	var sbs []*Sandbox
	fail := func(name string, err error) ([]*Sandbox, error) {
		for _, sb := range sbs {
			sb.Stop(context.Background())
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i, n := range nodes {
		o := opts
		o.Phones, o.Outbound = n.Phones, base+"/"+n.Name
		if i > 0 {
			o.ARIPassword = sbs[0].ARIPassword
		}
		sb, err := New(ctx, o)
		if err != nil {
			return fail(n.Name, err)
		}
		sbs = append(sbs, sb)
	}
	for i, sb := range sbs {
		for j, other := range sbs {
			if i == j {
				continue
			}
			if err := sb.AddTrunk(ctx, nodes[j].Name, other.SIPAddr); err != nil {
				return fail(nodes[i].Name, err)
			}
		}
	}
	return sbs, nil
}
