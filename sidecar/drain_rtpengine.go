package sidecar

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

var _ Drainer = (*rtpengine)(nil)

// defaultRTPEngineCLI is where rtpengine-ctl looks for rtpengine's CLI.
const defaultRTPEngineCLI = "127.0.0.1:9900"

// rtpengineDrainCommand lowers rtpengine's session limit to 0. rtpengine
// then refuses the offer of every new call (ng result "error",
// error-reason "Parallel session limit reached"), and keeps relaying,
// answering and re-offering the calls it has: the limit is checked only
// for an offer whose call-id it does not know (call_offer_session_limit in
// daemon/call_interfaces.c). It lasts until rtpengine restarts or the
// limit is set again ("set maxsessions -1" lifts it).
const rtpengineDrainCommand = "set maxsessions 0"

// Drain sets rtpengine's maxsessions to 0 through its CLI (--listen-cli,
// what rtpengine-ctl talks to).
func (e *rtpengine) Drain(ctx context.Context) error {
	reply, err := rtpengineCLI(ctx, e.cli, rtpengineDrainCommand)
	if err != nil {
		return fmt.Errorf("rtpengine CLI %s: %w", e.cli, err)
	}
	if err := checkMaxSessionsReply(reply); err != nil {
		return fmt.Errorf("rtpengine CLI %s: %w", e.cli, err)
	}
	return nil
}

// rtpengineCLI sends one command line to rtpengine's CLI and returns the
// reply: rtpengine reads a line, writes its answer and closes the
// connection (cli_stream_readable in daemon/cli.c).
func rtpengineCLI(ctx context.Context, addr, line string) ([]byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w (is rtpengine started with --listen-cli=%s?)", err, addr)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return nil, err
	}
	reply, err := io.ReadAll(io.LimitReader(conn, maxReply+1))
	if err != nil {
		return nil, fmt.Errorf("reading the reply to %q: %w", line, err)
	}
	if len(reply) > maxReply {
		return nil, fmt.Errorf("the reply to %q is larger than %d bytes", line, maxReply)
	}
	return reply, nil
}

// rtpengineDrained is rtpengine's reply to rtpengineDrainCommand when it
// took it (cli_incoming_set_maxsessions). Its other replies ("Fail setting
// maxsessions ...", "Unknown or incomplete command: ...", "More parameters
// required.") are refusals.
const rtpengineDrained = "Success setting maxsessions to 0"

// checkMaxSessionsReply tells whether rtpengine took the drain command.
func checkMaxSessionsReply(reply []byte) error {
	switch s := strings.TrimSpace(string(reply)); s {
	case rtpengineDrained:
		return nil
	case "":
		return fmt.Errorf("%s: the connection closed without a reply", rtpengineDrainCommand)
	default:
		return fmt.Errorf("%s refused: %s", rtpengineDrainCommand, snippetString(s))
	}
}
