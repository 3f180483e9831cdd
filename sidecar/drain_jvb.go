package sidecar

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

var _ Drainer = (*jvb)(nil)

// How a Jitsi Videobridge is drained (Options.JVBDrain), over the private
// REST API the stats are read from (jitsi-videobridge's
// rest/root/colibri/drain/Drain.java and shutdown/Shutdown.java). Neither
// stops new participants joining the conferences the bridge already
// hosts: jicofo only stops putting new conferences on it.
const (
	// JVBDrainMode sends POST /colibri/drain/enable: the bridge reports
	// drain: true and takes no new conference, and keeps running. The
	// drain API is on by default (videobridge.rest.drain.enabled).
	JVBDrainMode = "drain"
	// JVBGracefulShutdown sends POST /colibri/shutdown with
	// {"graceful-shutdown": true}: the bridge reports graceful_shutdown,
	// takes no new conference and exits once its local endpoints are
	// gone (videobridge.shutdown.graceful-shutdown-min-participants) or
	// graceful-shutdown-max-duration has passed. It needs
	// videobridge.rest.shutdown.enabled = true.
	JVBGracefulShutdown = "shutdown"
)

// jvbDrain is the request that drains a bridge.
type jvbDrain struct {
	url  string
	body []byte
	// notEnabled says what a 404 means: the bridge answers 404 for an
	// API its configuration turns off (rest/filters/ConfigFilter.java).
	notEnabled string
}

// jvbShutdownBody asks for a graceful shutdown. The field is a Boolean in
// Shutdown.ShutdownJson; Jitsi's graceful_shutdown.sh sends the string
// "true", which Jackson coerces, and a JSON boolean needs no coercion.
var jvbShutdownBody = []byte(`{"graceful-shutdown":true}`)

func newJVBDrain(o Options) (jvbDrain, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return jvbDrain{}, fmt.Errorf("jvb URL: %w", err)
	}
	if u.Host == "" {
		return jvbDrain{}, fmt.Errorf("jvb URL %q has no host", o.URL)
	}
	// Both APIs are served beside /colibri/stats, at the server's root.
	at := func(path string) string {
		return (&url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, Path: path}).String()
	}
	switch o.JVBDrain {
	case "", JVBDrainMode:
		return jvbDrain{url: at("/colibri/drain/enable"), notEnabled: "the bridge's drain API is off (videobridge.rest.drain.enabled)"}, nil
	case JVBGracefulShutdown:
		return jvbDrain{url: at("/colibri/shutdown"), body: jvbShutdownBody,
			notEnabled: "the bridge's shutdown API is off (it needs videobridge.rest.shutdown.enabled = true)"}, nil
	}
	return jvbDrain{}, fmt.Errorf("unknown JVB drain %q (want %s or %s)", o.JVBDrain, JVBDrainMode, JVBGracefulShutdown)
}

// Drain asks the bridge to drain as Options.JVBDrain says. The bridge
// answers 200 with no body once it switched (500 if that threw), and
// reports the mode in /colibri/stats from then on (drain or
// graceful_shutdown), which Read publishes as Draining.
func (j *jvb) Drain(ctx context.Context) error {
	_, err := httpRequest(ctx, j.client, http.MethodPost, j.drain.url, j.drain.body)
	var status *statusError
	if errors.As(err, &status) && status.code == http.StatusNotFound {
		return fmt.Errorf("jvb drain: %s: %w", j.drain.notEnabled, err)
	}
	if err != nil {
		return fmt.Errorf("jvb drain: %w", err)
	}
	return nil
}
