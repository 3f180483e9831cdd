package sidecar

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"syscall"
)

var _ Drainer = (*asterisk)(nil)

// How Asterisk is drained (Options.AsteriskDrain): the CLI commands that
// stop it once its calls have ended.
const (
	// AsteriskDrainGracefully sends "core stop gracefully": Asterisk
	// refuses new calls at once and exits after the last one.
	AsteriskDrainGracefully = "gracefully"
	// AsteriskDrainWhenConvenient sends "core stop when convenient":
	// Asterisk keeps taking calls and exits when it has none, so the
	// proxy in front must stop sending it calls. Its manager interface
	// keeps answering meanwhile, so its load can be read over AMI.
	AsteriskDrainWhenConvenient = "when-convenient"
)

// defaultAMIAddr is where Asterisk's manager listens unless manager.conf
// says otherwise (DEFAULT_MANAGER_PORT).
const defaultAMIAddr = "127.0.0.1:5038"

// asteriskDrain is where and how Asterisk is told to stop.
type asteriskDrain struct {
	addr, user, secret string
	command            string
}

func newAsteriskDrain(o Options, read *url.URL) (asteriskDrain, error) {
	d := asteriskDrain{user: o.AMIUser, secret: o.AMISecret}
	switch o.AsteriskDrain {
	case "", AsteriskDrainGracefully:
		d.command = "core stop gracefully"
	case AsteriskDrainWhenConvenient:
		d.command = "core stop when convenient"
	default:
		return asteriskDrain{}, fmt.Errorf("unknown Asterisk drain %q (want %s or %s)", o.AsteriskDrain, AsteriskDrainGracefully, AsteriskDrainWhenConvenient)
	}
	switch {
	case o.AMIURL != "":
		u, err := url.Parse(o.AMIURL)
		if err != nil || u.Scheme != "tcp" || u.Host == "" {
			return asteriskDrain{}, fmt.Errorf("asterisk AMI URL %q for draining: want tcp://host:port", o.AMIURL)
		}
		d.addr = u.Host
	case read.Scheme == "tcp":
		d.addr = read.Host
	default:
		d.addr = defaultAMIAddr
	}
	return d, nil
}

// drainActionID names the Command actions Drain sends.
const drainActionID = "rtcscale-drain"

// Drain sends the CLI command of Options.AsteriskDrain over the manager
// interface (action Command; the manager user needs write = command).
//
// Asterisk runs a CLI command inside the manager session that sent it and
// answers when the command returns, and a stop that waits for the calls to
// end returns only if it is cancelled: the session that asks waits for as
// long as the calls last, then Asterisk exits. What tells that the stop was
// taken is a second request: Asterisk runs one stop at a time and answers
// at once a request no firmer than the one under way (can_safely_quit in
// main/asterisk.c). So Drain logs in twice and sends the command on both
// sessions; one session holds the stop and the other is answered, with
// Success, or from a graceful stop on with "Asterisk is shutting down".
// Either means the stop is under way. Closing the sessions then does not
// cancel it: Asterisk does not read a session while its command runs.
// If Asterisk closes both sessions unanswered, it had no calls and exited.
func (a *asterisk) Drain(ctx context.Context) error {
	d := a.drain
	if d.user == "" {
		return errors.New("draining Asterisk needs a manager user (and its secret) with write = command")
	}
	var sessions [2]*amiClient
	for i := range sessions {
		s := &amiClient{addr: d.addr, user: d.user, secret: d.secret}
		if err := s.connect(ctx); err != nil {
			for _, open := range sessions[:i] {
				open.close()
			}
			if errors.Is(err, errShuttingDown) {
				return nil // a graceful stop is under way already
			}
			return fmt.Errorf("asterisk AMI %s: %w", d.addr, err)
		}
		sessions[i] = s
	}

	// The sessions' conns are closed here rather than through their
	// amiClients, whose fields the goroutines own: that ends the session
	// holding the stop once the other answered, and honours ctx.
	var conns [len(sessions)]net.Conn
	for i, s := range sessions {
		conns[i] = s.conn
	}
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	answers := make(chan error, len(sessions))
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() {
			reply, err := s.command(ctx, drainActionID, d.command)
			if err == nil {
				err = reply.stopTaken(d.command)
			}
			answers <- err
		})
	}
	stop := context.AfterFunc(ctx, closeAll)
	defer func() {
		stop()
		closeAll()
		wg.Wait()
	}()

	for range sessions {
		err := <-answers
		switch {
		case err == nil:
			return nil
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
			// Closed unanswered: Asterisk exited.
		case ctx.Err() != nil:
			return fmt.Errorf("asterisk AMI %s: %s: %w", d.addr, d.command, ctx.Err())
		default:
			return fmt.Errorf("asterisk AMI %s: %w", d.addr, err)
		}
	}
	return nil // both closed unanswered: Asterisk had no calls and exited
}

// command sends the manager action Command and reads its answer.
func (c *amiClient) command(ctx context.Context, id, cmd string) (amiCommandReply, error) {
	var reply amiCommandReply
	_, err := c.exchange(ctx, "Action: Command\r\nActionID: "+id+"\r\nCommand: "+amiValue(cmd)+"\r\n\r\n", func() (Reading, error) {
		var err error
		reply, err = readCommandReply(c.tp, id)
		return Reading{}, err
	})
	return reply, err
}

// amiCommandReply is the manager's answer to a Command action.
type amiCommandReply struct {
	// Response is Success or Error from Asterisk 14 on, whose Command
	// answers after the command returned; Follows before, where it told
	// failure only in the output.
	Response string
	Message  string
	// Output is the command's output, a line each.
	Output []string
}

// whenConvenientOutput is what "core stop when convenient" prints.
const whenConvenientOutput = "Waiting for inactivity to perform halt"

// stopTaken says whether the reply to a stop command means that a stop is
// under way: see asterisk.Drain.
func (r amiCommandReply) stopTaken(command string) error {
	output := strings.TrimSpace(strings.Join(r.Output, "\n"))
	switch r.Response {
	case "Success":
		return nil
	case "Follows":
		// Before Asterisk 14 a refused command answered Follows too,
		// with its complaint as output.
		if output == "" || output == whenConvenientOutput {
			return nil
		}
		return fmt.Errorf("%s: %s", command, snippetString(output))
	case "Error":
		if r.Message == amiShuttingDown {
			return nil
		}
		hint := ""
		if r.Message == "Permission denied" {
			hint = " (the manager user needs write = command in manager.conf)"
		}
		if output != "" {
			return fmt.Errorf("%s refused: %s: %s%s", command, r.Message, snippetString(output), hint)
		}
		return fmt.Errorf("%s refused: %s%s", command, r.Message, hint)
	}
	return fmt.Errorf("%s: unexpected Response %s", command, snippetString(r.Response))
}

// endCommand ends the raw output of a Command answered Follows; Asterisk
// appended it to whatever the output's last line was.
const endCommand = "--END COMMAND--"

// maxCommandLines bounds how many lines the answer to a Command may take,
// the messages skipped before it included.
const maxCommandLines = 1 << 16

// readCommandReply reads the answer to the Command action with ActionID
// id, skipping messages for other actions. Asterisk 14 and later answer
// with headers only, the output as Output headers; 13 and older answered
// Response: Follows, Privilege and ActionID, then the output as raw text,
// which ends with --END COMMAND--. A Follows answer is read until that
// end, which a command still running (a stop holding its session) has
// not sent yet.
func readCommandReply(tp *textproto.Reader, id string) (amiCommandReply, error) {
	var r amiCommandReply
	var actionID string
	raw := false
	for range maxCommandLines {
		line, err := tp.ReadLine()
		if err != nil {
			return amiCommandReply{}, fmt.Errorf("reading the answer: %w", err)
		}
		if !raw && r.Response == "Follows" && !isFollowsHeader(line) {
			raw = true
		}
		if raw {
			out, done := strings.CutSuffix(line, endCommand)
			if !done || out != "" {
				r.Output = append(r.Output, out)
			}
			if !done {
				continue
			}
		} else if line != "" {
			key, value, ok := strings.Cut(line, ":")
			if !ok {
				return amiCommandReply{}, fmt.Errorf("not a manager header: %s", snippetString(line))
			}
			value = strings.TrimSpace(value)
			switch key = strings.TrimSpace(key); {
			case strings.EqualFold(key, "Response"):
				r.Response = value
			case strings.EqualFold(key, "ActionID"):
				actionID = value
			case strings.EqualFold(key, "Message"):
				r.Message = value
			case strings.EqualFold(key, "Output"):
				r.Output = append(r.Output, value)
			}
			continue
		}
		// The end of a message.
		if actionID == id && r.Response != "" {
			return r, nil
		}
		r, actionID, raw = amiCommandReply{}, "", false
	}
	return amiCommandReply{}, fmt.Errorf("no answer within %d lines", maxCommandLines)
}

// isFollowsHeader says whether a line after Response: Follows is one of
// the headers Asterisk wrote before the raw output.
func isFollowsHeader(line string) bool {
	key, _, ok := strings.Cut(line, ":")
	key = strings.TrimSpace(key)
	return ok && (strings.EqualFold(key, "Privilege") || strings.EqualFold(key, "ActionID"))
}
