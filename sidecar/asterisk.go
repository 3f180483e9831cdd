package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rtcscale/rtcscale/sample"
)

// asterisk reads an Asterisk PBX, either from res_prometheus (an http:// URL,
// Asterisk's HTTP server, /metrics) or from the manager interface (a tcp://
// URL, AMI, action CoreShowChannels), and drains it over the manager
// interface (drain_asterisk.go). res_prometheus does not say that Asterisk
// is stopping, and the manager interface refuses every action while it
// stops gracefully, so Draining stays false.
type asterisk struct {
	client *http.Client
	url    string
	ami    *amiClient
	drain  asteriskDrain
}

func newAsterisk(o Options) (*asterisk, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("asterisk URL: %w", err)
	}
	a := &asterisk{}
	switch u.Scheme {
	case "http", "https":
		a.client, a.url = o.Client, o.URL
	case "tcp":
		if u.Host == "" {
			return nil, fmt.Errorf("asterisk AMI URL %q has no host:port", o.URL)
		}
		if o.AMIUser == "" {
			return nil, errors.New("reading Asterisk over AMI needs a manager user (and its secret)")
		}
		a.ami = &amiClient{addr: u.Host, user: o.AMIUser, secret: o.AMISecret}
	default:
		return nil, fmt.Errorf("asterisk URL %q: want http://host:port/metrics (res_prometheus) or tcp://host:port (AMI)", o.URL)
	}
	if a.drain, err = newAsteriskDrain(o, u); err != nil {
		return nil, err
	}
	return a, nil
}

func (*asterisk) Kind() sample.Kind { return sample.KindAsterisk }

func (a *asterisk) Read(ctx context.Context) (Reading, error) {
	if a.ami != nil {
		return a.ami.coreShowChannels(ctx)
	}
	return fetch(ctx, a.client, http.MethodGet, a.url, nil, "asterisk metrics", ParseAsteriskMetrics)
}

// ParseAsteriskMetrics parses res_prometheus's exposition:
// asterisk_calls_count and asterisk_channels_count (label eid, one series
// per Asterisk; summed).
func ParseAsteriskMetrics(body []byte) (Reading, error) {
	fams, err := promFamilies(body)
	if err != nil {
		return Reading{}, err
	}
	calls, found, err := promSum(fams, "asterisk_calls_count", nil)
	if err != nil {
		return Reading{}, err
	}
	if !found {
		return Reading{}, fmt.Errorf("asterisk_calls_count: %w (is res_prometheus loaded with core metrics enabled?)", errNoValue)
	}
	r := Reading{Gauges: []sample.Gauge{{Name: sample.GaugeCalls, Value: calls}}}
	channels, found, err := promSum(fams, "asterisk_channels_count", nil)
	if err != nil {
		return Reading{}, err
	}
	if found {
		r.Gauges = append(r.Gauges, sample.Gauge{Name: sample.GaugeChannels, Value: channels})
	}
	return r, nil
}

// amiClient keeps one manager session open across polls and opens a new one
// after any error, so that a restarted Asterisk is read again on its own.
type amiClient struct {
	addr, user, secret string

	conn   net.Conn
	tp     *textproto.Reader
	nextID uint64
}

// amiBanner starts the line Asterisk greets a manager client with.
const amiBanner = "Asterisk Call Manager/"

func (a *amiClient) coreShowChannels(ctx context.Context) (Reading, error) {
	if a.conn == nil {
		if err := a.connect(ctx); err != nil {
			return Reading{}, fmt.Errorf("asterisk AMI %s: %w", a.addr, err)
		}
	}
	a.nextID++
	id := "rtcscale-" + strconv.FormatUint(a.nextID, 10)
	r, err := a.exchange(ctx, "Action: CoreShowChannels\r\nActionID: "+id+"\r\n\r\n", func() (Reading, error) {
		return readCoreShowChannels(a.tp, id)
	})
	if err != nil {
		return Reading{}, fmt.Errorf("asterisk AMI CoreShowChannels: %w", err)
	}
	return r, nil
}

func (a *amiClient) connect(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", a.addr)
	if err != nil {
		return err
	}
	a.conn, a.tp = conn, textproto.NewReader(bufio.NewReader(conn))
	// Events off: this session only asks, so Asterisk must not stream
	// every call's events to it.
	login := "Action: Login\r\nActionID: rtcscale-login\r\nUsername: " + amiValue(a.user) +
		"\r\nSecret: " + amiValue(a.secret) + "\r\nEvents: off\r\n\r\n"
	_, err = a.exchange(ctx, login, func() (Reading, error) {
		banner, err := a.tp.ReadLine()
		if err != nil {
			return Reading{}, err
		}
		if !strings.HasPrefix(banner, amiBanner) {
			return Reading{}, fmt.Errorf("not an Asterisk manager interface: greeting %s", snippetString(banner))
		}
		h, err := a.tp.ReadMIMEHeader()
		if err != nil {
			return Reading{}, err
		}
		if h.Get("Response") != "Success" {
			if h.Get("Message") == amiShuttingDown {
				return Reading{}, errShuttingDown
			}
			return Reading{}, fmt.Errorf("login refused: %s", h.Get("Message"))
		}
		return Reading{}, nil
	})
	return err
}

// exchange writes a request and reads its answer within ctx's deadline,
// closing the session on any error.
func (a *amiClient) exchange(ctx context.Context, req string, read func() (Reading, error)) (Reading, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	if err := a.conn.SetDeadline(deadline); err != nil {
		a.close()
		return Reading{}, err
	}
	if _, err := a.conn.Write([]byte(req)); err != nil {
		a.close()
		return Reading{}, err
	}
	r, err := read()
	if err != nil {
		a.close()
		return Reading{}, err
	}
	return r, nil
}

func (a *amiClient) close() {
	if a.conn != nil {
		a.conn.Close()
		a.conn, a.tp = nil, nil
	}
}

// amiShuttingDown is the Message with which Asterisk 14 and later refuse
// every manager action, Login included, from the start of a graceful stop
// (or the final phase of any stop) until the process exits (process_message
// in main/manager.c).
const amiShuttingDown = "Asterisk is shutting down"

var errShuttingDown = errors.New("asterisk is shutting down, and its manager interface refuses every action until it exits " +
	"(read res_prometheus, an http:// URL, to follow the calls of a graceful drain)")

// amiValue keeps a configured value from ending its header line.
func amiValue(s string) string { return strings.NewReplacer("\r", "", "\n", "").Replace(s) }

// ParseCoreShowChannels parses the manager's answer to CoreShowChannels
// with ActionID actionID, as read from the session (messages for other
// actions are skipped).
func ParseCoreShowChannels(data []byte, actionID string) (Reading, error) {
	return readCoreShowChannels(textproto.NewReader(bufio.NewReader(bytes.NewReader(data))), actionID)
}

// maxAMIMessages bounds how many manager messages one answer may take; a
// PBX with more channels than this is far beyond one pod's capacity.
const maxAMIMessages = 1 << 17

// readCoreShowChannels reads the answer to CoreShowChannels: a Response,
// one CoreShowChannel event per channel, then CoreShowChannelsComplete
// whose ListItems is the channel count. Calls are the distinct Linkedid of
// the channels (the two legs of a bridged call share it).
func readCoreShowChannels(tp *textproto.Reader, actionID string) (Reading, error) {
	linked := map[string]struct{}{}
	responded := false
	for range maxAMIMessages {
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			return Reading{}, fmt.Errorf("reading the answer: %w", err)
		}
		if h.Get("Actionid") != actionID {
			continue
		}
		if resp := h.Get("Response"); resp != "" {
			if resp != "Success" {
				if h.Get("Message") == amiShuttingDown {
					return Reading{}, errShuttingDown
				}
				return Reading{}, fmt.Errorf("%s: %s", resp, h.Get("Message"))
			}
			responded = true
			continue
		}
		if !responded {
			return Reading{}, errors.New("an event before the response")
		}
		switch h.Get("Event") {
		case "CoreShowChannel":
			id := h.Get("Linkedid")
			if id == "" {
				id = h.Get("Uniqueid")
			}
			linked[id] = struct{}{}
		case "CoreShowChannelsComplete":
			n, err := strconv.ParseUint(h.Get("Listitems"), 10, 32)
			if err != nil {
				return Reading{}, fmt.Errorf("CoreShowChannelsComplete: ListItems %s is not a count", snippetString(h.Get("Listitems")))
			}
			return Reading{Gauges: []sample.Gauge{
				{Name: sample.GaugeCalls, Value: float64(len(linked))},
				{Name: sample.GaugeChannels, Value: float64(n)},
			}}, nil
		}
	}
	return Reading{}, fmt.Errorf("no CoreShowChannelsComplete within %d messages", maxAMIMessages)
}
