// Package freeport picks loopback ports for set-ups that must write a port
// into a configuration before the process that binds it starts (Asterisk's
// ARI and SIP ports, transferd's listeners in tests and load runs).
//
// Ports come from 10000–19999: below the kernel's ephemeral range
// (32768–60999 on Linux), where a port picked with ":0" and released can
// be taken by any outgoing connection before its owner binds it, and below
// the sandbox's RTP range (20000–39999). Within one process a port is
// never handed out twice; across processes the random choice makes a
// clash unlikely, and callers that bind later still retry on a bind error.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

const (
	first = 10000
	count = 10000
)

// given remembers the ports handed out in this process: ports are a
// process-wide resource, so the set is too.
var given = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// TCP returns a loopback TCP port nobody listens on right now.
func TCP() (int, error) { return pick("tcp") }

// UDP returns a loopback UDP port nobody has bound right now.
func UDP() (int, error) { return pick("udp") }

// TCPAddr returns "127.0.0.1:<port>" for a port from TCP.
func TCPAddr() (string, error) {
	p, err := TCP()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}

func pick(network string) (int, error) {
	given.Lock()
	defer given.Unlock()
	var lastErr error
	for range 200 {
		p := first + rand.IntN(count)
		if given.ports[p] {
			continue
		}
		if err := tryBind(network, p); err != nil {
			lastErr = err
			continue
		}
		given.ports[p] = true
		return p, nil
	}
	if lastErr == nil {
		lastErr = errors.New("every port tried was already handed out")
	}
	return 0, fmt.Errorf("freeport: no free %s port in %d–%d: %w", network, first, first+count-1, lastErr)
}

func tryBind(network string, port int) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if network == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}
