package sidecar

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/rtcscale/rtcscale/sample"
)

// fakeRTPEngineCLI is rtpengine's CLI on loopback as Debian's rtpengine
// 10.5 behaves (recorded replies in testdata): it reads one line, writes
// the reply and closes. Each line read is sent on lines.
func fakeRTPEngineCLI(t *testing.T, reply []byte) (addr string, lines <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil {
				got <- line
				c.Write(reply)
			}
			c.Close()
		}
	}()
	return ln.Addr().String(), got
}

func TestRTPEngineDrain(t *testing.T) {
	for _, c := range []struct {
		name  string
		reply []byte
		err   string
	}{
		{"taken", fixture(t, "rtpengine-cli-set-maxsessions-0.txt"), ""},
		{"refused", fixture(t, "rtpengine-cli-set-maxsessions-refused.txt"), `set maxsessions 0 refused: "Fail setting maxsessions to -5; either positive or -1 values allowed"`},
		{"unknown command", fixture(t, "rtpengine-cli-unknown-command.txt"), `refused: "Unknown or incomplete command::maxsession 0"`},
		{"no reply", nil, "closed without a reply"},
	} {
		addr, lines := fakeRTPEngineCLI(t, c.reply)
		src, err := New(sample.KindRTPEngine, Options{URL: "http://127.0.0.1:2225/metrics", RTPEngineCLI: addr})
		if err != nil {
			t.Fatal(err)
		}
		err = src.(Drainer).Drain(context.Background())
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.err)
		}
		if line := <-lines; line != "set maxsessions 0\n" {
			t.Errorf("%s: sent %q", c.name, line)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // nothing listens there now
	src, _ := New(sample.KindRTPEngine, Options{RTPEngineCLI: ln.Addr().String()})
	if err := src.(Drainer).Drain(context.Background()); err == nil || !strings.Contains(err.Error(), "is rtpengine started with --listen-cli="+ln.Addr().String()) {
		t.Errorf("no CLI: %v", err)
	}

	if e, _ := New(sample.KindRTPEngine, Options{}); e.(*rtpengine).cli != "127.0.0.1:9900" {
		t.Errorf("default CLI address %s, want rtpengine-ctl's 127.0.0.1:9900", e.(*rtpengine).cli)
	}
}

func FuzzCheckMaxSessionsReply(f *testing.F) {
	for _, s := range []string{"rtpengine-cli-set-maxsessions-0.txt", "rtpengine-cli-set-maxsessions-refused.txt", "rtpengine-cli-unknown-command.txt"} {
		f.Add(fixture(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := checkMaxSessionsReply(b); (err == nil) != (strings.TrimSpace(string(b)) == rtpengineDrained) {
			t.Fatalf("%q: %v", b, err)
		}
	})
}
