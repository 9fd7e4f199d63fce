package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPortsAreBindableAndNeverHandedOutTwice(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		p, err := TCP()
		if err != nil {
			t.Fatal(err)
		}
		if p < first || p >= first+count {
			t.Fatalf("port %d outside %d–%d", p, first, first+count-1)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	p, err := UDP()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("udp port %d not bindable: %v", p, err)
	}
	c.Close()
}

func TestABoundPortIsSkipped(t *testing.T) {
	// A port someone listens on is not free.
	addr, err := TCPAddr()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s not bindable: %v", addr, err)
	}
	defer l.Close()
	if err := tryBind("tcp", l.Addr().(*net.TCPAddr).Port); err == nil {
		t.Fatal("tryBind accepted a port in use")
	}
}
