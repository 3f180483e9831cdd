package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/textproto"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/sample"
)

// stoppingAsterisk plays Asterisk's manager interface while a stop command
// runs, from recorded answers: the first Command is sent first (what
// Asterisk writes before the command returns: nothing from 14 on, the
// Follows headers before; or the whole answer of a command that fails at
// once), and its session then gets nothing more, as a stop waiting for the
// calls holds it; every later Command is sent later. Once stopping, with
// refuseAll (a graceful stop on Asterisk 14 and later), every action
// instead gets the refusal "Asterisk is shutting down", Login included;
// with exits (an idle Asterisk), the first Command closes every session.
type stoppingAsterisk struct {
	first, later string
	refuseAll    bool
	exits        bool
	shuttingDown string // the refusal, set by the test

	mu       sync.Mutex
	stopping bool
	conns    []net.Conn
	commands []textproto.MIMEHeader
}

func (s *stoppingAsterisk) action(c net.Conn, h textproto.MIMEHeader) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.conns, c) {
		s.conns = append(s.conns, c)
	}
	reply := func(fixture string) {
		c.Write([]byte(strings.ReplaceAll(fixture, "ActionID: 1\r\n", "ActionID: "+h.Get("Actionid")+"\r\n")))
	}
	command := h.Get("Action") == "Command"
	if command {
		s.commands = append(s.commands, h)
	}
	if s.stopping && s.refuseAll {
		reply(s.shuttingDown)
		return true
	}
	if !command {
		return false
	}
	switch {
	case s.stopping:
		reply(s.later)
	case s.exits:
		for _, c := range s.conns {
			c.Close()
		}
	default:
		reply(s.first)
	}
	s.stopping = true
	return true
}

func amiFixture(t *testing.T, name string) string { return string(crlf(fixture(t, name))) }

func TestAsteriskDrain(t *testing.T) {
	const (
		gracefully     = "core stop gracefully"
		whenConvenient = "core stop when convenient"
	)
	for _, c := range []struct {
		name  string
		drain string // Options.AsteriskDrain
		ami   *stoppingAsterisk
		// readOverAMI reads the load over the manager interface too,
		// with the drain's address from the read URL.
		readOverAMI bool
		commands    int    // Command actions sent
		err         string // substring of Drain's error; "" for success
		readErr     error  // Read's error after the drain
	}{
		{name: "gracefully, Asterisk 14 and later", ami: &stoppingAsterisk{refuseAll: true}, commands: 2},
		{name: "gracefully, the second request taken first", ami: &stoppingAsterisk{later: amiFixture(t, "asterisk-ami-command-gracefully-under-way.txt")}, commands: 2},
		{name: "gracefully, read over AMI", readOverAMI: true, ami: &stoppingAsterisk{refuseAll: true}, commands: 2, readErr: errShuttingDown},
		{name: "when convenient, read over AMI", drain: AsteriskDrainWhenConvenient, readOverAMI: true,
			ami: &stoppingAsterisk{later: amiFixture(t, "asterisk-ami-command-when-convenient-under-way.txt")}, commands: 2},
		{name: "gracefully, Asterisk 13", ami: &stoppingAsterisk{first: amiFixture(t, "asterisk13-ami-command-running.txt"), later: amiFixture(t, "asterisk13-ami-command-gracefully-under-way.txt")}, commands: 2},
		{name: "idle: Asterisk exits", ami: &stoppingAsterisk{exits: true}, commands: 1},
		{name: "stopping already", ami: &stoppingAsterisk{stopping: true, refuseAll: true}, commands: 0},
		{name: "permission denied", ami: &stoppingAsterisk{first: amiFixture(t, "asterisk-ami-permission-denied.txt"), later: amiFixture(t, "asterisk-ami-permission-denied.txt")},
			commands: 1, err: "core stop gracefully refused: Permission denied (the manager user needs write = command in manager.conf)"},
		{name: "no temporary file", ami: &stoppingAsterisk{first: amiFixture(t, "asterisk-ami-command-read-only-tmp.txt"), later: amiFixture(t, "asterisk-ami-command-read-only-tmp.txt")},
			commands: 1, err: "refused: Failed to create temporary file: Read-only file system"},
		{name: "refused, Asterisk 13", ami: &stoppingAsterisk{first: amiFixture(t, "asterisk13-ami-command-no-such-command.txt"), later: amiFixture(t, "asterisk13-ami-command-no-such-command.txt")},
			commands: 1, err: "core stop gracefully: \"No such command"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.ami.shuttingDown = amiFixture(t, "asterisk-ami-shutting-down.txt")
			ami := serveFakeAMI(t, &fakeAMI{answer: amiFixture(t, "asterisk-ami-coreshowchannels.txt"), secret: "s3cret", action: c.ami.action})
			o := Options{AMIUser: "rtcscale", AMISecret: "s3cret", AsteriskDrain: c.drain}
			if c.readOverAMI {
				o.URL = "tcp://" + ami.ln.Addr().String()
			} else {
				o.URL = serve(t, http.StatusOK, fixture(t, "asterisk-metrics.txt"), nil) + "/metrics"
				o.AMIURL = "tcp://" + ami.ln.Addr().String()
			}
			src, err := New(sample.KindAsterisk, o)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := src.Read(ctx); err != nil {
				t.Fatalf("read before the drain: %v", err)
			}

			err = src.(Drainer).Drain(ctx)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Errorf("Drain: %v, want an error containing %q", err, c.err)
			}
			c.ami.mu.Lock()
			commands := c.ami.commands
			c.ami.mu.Unlock()
			// Drain sends both Commands, then waits. When the first is
			// answered at once (refused) or ends every session (Asterisk
			// exits), Drain may close the second session before the fake
			// has read its Command.
			answeredAtOnce := c.err != "" || c.ami.exits
			if n := len(commands); n != c.commands && !(answeredAtOnce && n == c.commands+1) {
				t.Errorf("%d Command actions read, want %d", n, c.commands)
			}
			want := gracefully
			if c.drain == AsteriskDrainWhenConvenient {
				want = whenConvenient
			}
			for _, h := range commands {
				if exact := (textproto.MIMEHeader{"Action": {"Command"}, "Actionid": {drainActionID}, "Command": {want}}); !reflect.DeepEqual(h, exact) {
					t.Errorf("sent %v, want exactly %v", h, exact)
				}
			}

			if c.ami.exits {
				return // nothing left to read
			}
			_, err = src.Read(ctx)
			if c.readErr == nil && err != nil || c.readErr != nil && !errors.Is(err, c.readErr) {
				t.Errorf("read after the drain: %v, want %v", err, c.readErr)
			}
		})
	}
}

func TestAsteriskDrainFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	metrics := serve(t, http.StatusOK, fixture(t, "asterisk-metrics.txt"), nil) + "/metrics"
	ami := startFakeAMI(t, nil, "s3cret")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // nothing listens there now
	for name, c := range map[string]struct {
		opts Options
		err  string
	}{
		"no manager user": {Options{URL: metrics}, "needs a manager user"},
		"wrong secret":    {Options{URL: metrics, AMIURL: "tcp://" + ami.ln.Addr().String(), AMIUser: "rtcscale", AMISecret: "wrong"}, "login refused: Authentication failed"},
		"nothing listens": {Options{URL: metrics, AMIURL: "tcp://" + ln.Addr().String(), AMIUser: "rtcscale"}, "refused"},
	} {
		src, err := New(sample.KindAsterisk, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := src.(Drainer).Drain(ctx); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.err)
		}
	}

	// A manager that takes the stop on both sessions and answers neither
	// is not Asterisk; Drain ends with ctx.
	commands := make(chan struct{}, 2)
	mute := serveFakeAMI(t, &fakeAMI{secret: "s3cret", action: func(_ net.Conn, h textproto.MIMEHeader) bool {
		if h.Get("Action") != "Command" {
			return false
		}
		commands <- struct{}{}
		return true
	}})
	src, err := New(sample.KindAsterisk, Options{URL: metrics, AMIURL: "tcp://" + mute.ln.Addr().String(), AMIUser: "rtcscale", AMISecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	unanswered, cancelUnanswered := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- src.(Drainer).Drain(unanswered) }()
	for range 2 {
		<-commands
	}
	cancelUnanswered()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("unanswered: %v, want context.Canceled", err)
	}
}

func TestReadCommandReply(t *testing.T) {
	for _, c := range []struct {
		name string
		in   string
		want amiCommandReply
		err  string
	}{
		{name: "Asterisk 14 and later", in: amiFixture(t, "asterisk-ami-command-when-convenient-under-way.txt"),
			want: amiCommandReply{Response: "Success", Message: "Command output follows", Output: []string{whenConvenientOutput}}},
		{name: "empty output", in: amiFixture(t, "asterisk-ami-command-gracefully-under-way.txt"),
			want: amiCommandReply{Response: "Success", Message: "Command output follows", Output: []string{""}}},
		{name: "Asterisk 13", in: amiFixture(t, "asterisk13-ami-command-gracefully-under-way.txt"), want: amiCommandReply{Response: "Follows"}},
		{name: "Asterisk 13, output", in: amiFixture(t, "asterisk13-ami-command-no-such-command.txt"),
			want: amiCommandReply{Response: "Follows", Output: []string{"No such command 'core stop gracefuly' (type 'core show help core stop' for other possible commands)"}}},
		{name: "Asterisk 13, output with a colon, a blank line and no end of line",
			in:   "Response: Follows\r\nPrivilege: Command\r\nActionID: 1\r\nUptime: 3 days\r\n\r\nlast--END COMMAND--\r\n\r\n",
			want: amiCommandReply{Response: "Follows", Output: []string{"Uptime: 3 days", "", "last"}}},
		{name: "other actions first",
			in:   "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\nResponse: Success\r\nActionID: 7\r\nPing: Pong\r\n\r\n" + amiFixture(t, "asterisk-ami-shutting-down.txt"),
			want: amiCommandReply{Response: "Error", Message: amiShuttingDown}},
		{name: "cut short", in: amiFixture(t, "asterisk13-ami-command-running.txt"), err: "EOF"},
		{name: "not AMI", in: "HTTP/1.1 400 Bad Request\r\n\r\n", err: "not a manager header"},
	} {
		got, err := readCommandReply(textproto.NewReader(bufio.NewReader(strings.NewReader(c.in))), "1")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %+v, %v; want an error containing %q", c.name, got, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}

func FuzzReadCommandReply(f *testing.F) {
	for _, s := range []string{
		"asterisk-ami-shutting-down.txt", "asterisk-ami-command-when-convenient-under-way.txt", "asterisk-ami-command-gracefully-under-way.txt",
		"asterisk-ami-command-read-only-tmp.txt", "asterisk-ami-permission-denied.txt",
		"asterisk13-ami-command-running.txt", "asterisk13-ami-command-gracefully-under-way.txt", "asterisk13-ami-command-no-such-command.txt",
	} {
		f.Add(crlf(fixture(f, s)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := readCommandReply(textproto.NewReader(bufio.NewReader(bytes.NewReader(b))), "1")
		if err != nil {
			return
		}
		if r.Response == "" {
			t.Fatalf("an answer without a Response: %+v", r)
		}
		// Only these answers mean that a stop is under way.
		taken := r.stopTaken("core stop gracefully") == nil
		if want := r.Response == "Success" || r.Response == "Follows" || r.Response == "Error" && r.Message == amiShuttingDown; taken && !want {
			t.Fatalf("%+v taken for a stop under way", r)
		}
	})
}

// Where and how Asterisk is drained, from the options.
func TestAsteriskDrainOptions(t *testing.T) {
	for _, c := range []struct {
		opts          Options
		addr, command string
	}{
		{Options{URL: "http://127.0.0.1:8088/metrics"}, defaultAMIAddr, "core stop gracefully"},
		{Options{URL: "http://127.0.0.1:8088/metrics", AMIURL: "tcp://10.0.0.1:5039"}, "10.0.0.1:5039", "core stop gracefully"},
		{Options{URL: "tcp://127.0.0.1:5039", AMIUser: "u", AsteriskDrain: AsteriskDrainWhenConvenient}, "127.0.0.1:5039", "core stop when convenient"},
		{Options{URL: "tcp://127.0.0.1:5039", AMIUser: "u", AsteriskDrain: AsteriskDrainGracefully}, "127.0.0.1:5039", "core stop gracefully"},
	} {
		src, err := New(sample.KindAsterisk, c.opts)
		if err != nil {
			t.Errorf("%+v: %v", c.opts, err)
			continue
		}
		if d := src.(*asterisk).drain; d.addr != c.addr || d.command != c.command {
			t.Errorf("%+v: drains %s with %q, want %s with %q", c.opts, d.addr, d.command, c.addr, c.command)
		}
	}
}
