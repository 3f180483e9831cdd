// Package natsconn connects rtcscale's processes (the adapter, the sidecar,
// the demo) to NATS the same way: the same flags, credentials, reconnect
// policy and logs. It is small on purpose: the sidecar links it, and
// nothing here may pull in the collector's Kubernetes client.
package natsconn

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// Options say how to reach NATS. They follow the nats CLI's names.
type Options struct {
	// URL is one or more comma-separated server URLs.
	URL string
	// Creds is a credentials file (JWT and NKey seed), NKey an NKey seed
	// file; User and Password are plain credentials. At most one kind.
	Creds, NKey    string
	User, Password string
	// TLSCA verifies the server; TLSCert and TLSKey authenticate this
	// client.
	TLSCA, TLSCert, TLSKey string
	// Name identifies this client in the server's monitoring.
	Name string
	// PingInterval is how often the client pings the server; two pings
	// without an answer end the connection. It bounds how long a silent
	// network partition (no reset, packets just lost) passes for a live
	// connection. Default 5s, so within 15s: nats.go's own default of two
	// minutes would keep readiness up for minutes after values went stale.
	PingInterval time.Duration
}

// AddFlags adds the --nats-* flags that fill o. The password has no flag,
// so that it shows in no process listing: callers read it from
// $NATS_PASSWORD.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.URL, "nats-url", "nats://127.0.0.1:4222", "NATS server URLs, comma-separated")
	fs.StringVar(&o.Creds, "nats-creds", "", "NATS credentials file (JWT and NKey seed)")
	fs.StringVar(&o.NKey, "nats-nkey", "", "NATS NKey seed file")
	fs.StringVar(&o.User, "nats-user", "", "NATS user name (the password is read from $NATS_PASSWORD)")
	fs.StringVar(&o.TLSCA, "nats-tls-ca", "", "CA bundle that verifies the NATS server")
	fs.StringVar(&o.TLSCert, "nats-tls-cert", "", "client certificate for NATS")
	fs.StringVar(&o.TLSKey, "nats-tls-key", "", "client key for NATS")
	fs.DurationVar(&o.PingInterval, "nats-ping-interval", 5e9, "how often to ping NATS; two unanswered pings end the connection, so a silent network partition turns readiness false within three intervals")
}

// Observer is told of a connection's changes, for self-metrics.
type Observer interface {
	// NATSConnected says whether the connection is up.
	NATSConnected(up bool)
	// NATSReconnected counts a reconnection.
	NATSReconnected()
}

// noObserver is the Observer of a caller that passes none.
type noObserver struct{}

func (noObserver) NATSConnected(bool) {}
func (noObserver) NATSReconnected()   {}

// maxPingsOut is how many unanswered pings end a connection.
const maxPingsOut = 2

// Dial connects to NATS and keeps reconnecting forever: an adapter that gave
// up would serve nothing until restarted, a sidecar would publish nothing.
// metrics may be nil.
func Dial(o Options, metrics Observer) (*nats.Conn, error) {
	if o.URL == "" {
		return nil, errors.New("no NATS URL given (--nats-url)")
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 5 * time.Second
	}
	if metrics == nil {
		metrics = noObserver{}
	}
	var failure reconnectFailure
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		// nats.go gives up for good when a server refuses the credentials
		// twice, leaving the adapter disconnected until restarted and
		// silent about it. Credentials get fixed on the server (an account
		// reload) as often as in the adapter: keep trying, and say why.
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectErrHandler(failure.log),
		nats.PingInterval(o.PingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		// A server in lame-duck mode is about to go: move to another
		// now rather than when it closes the connection.
		nats.LameDuckModeHandler(func(nc *nats.Conn) {
			klog.InfoS("NATS server entering lame-duck mode; reconnecting to another", "server", nc.ConnectedServerId())
			if err := nc.ForceReconnect(); err != nil {
				klog.ErrorS(err, "Reconnecting away from a lame-duck NATS server")
			}
		}),
		nats.ConnectHandler(func(*nats.Conn) {
			klog.InfoS("Connected to NATS")
			metrics.NATSConnected(true)
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			metrics.NATSConnected(false)
			// Close calls this too, on shutdown, when nothing comes back.
			if err == nil && nc.IsClosed() {
				return
			}
			klog.InfoS("Disconnected from NATS; values go stale until it is back", "err", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			failure.reset()
			klog.InfoS("Reconnected to NATS")
			metrics.NATSConnected(true)
			metrics.NATSReconnected()
		}),
		// A slow consumer is reported here once per episode, however many
		// messages it drops: a subscriber counts those itself
		// (nats.Subscription.Dropped).
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			klog.ErrorS(err, "NATS asynchronous error")
		}),
	}
	switch {
	case o.Creds != "" && (o.NKey != "" || o.User != ""), o.NKey != "" && o.User != "":
		return nil, errors.New("give one of --nats-creds, --nats-nkey and --nats-user, not several")
	case o.Creds != "":
		opts = append(opts, nats.UserCredentials(o.Creds))
	case o.NKey != "":
		opt, err := nats.NkeyOptionFromSeed(o.NKey)
		if err != nil {
			return nil, fmt.Errorf("reading NKey seed file: %w", err)
		}
		opts = append(opts, opt)
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("--nats-tls-cert and --nats-tls-key go together")
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	metrics.NATSConnected(nc.IsConnected())
	return nc, nil
}

// reconnectFailure logs why connecting fails, once per different reason:
// a reconnection is tried every second and would otherwise log as often.
type reconnectFailure struct {
	mu   sync.Mutex
	last string
}

func (f *reconnectFailure) log(_ *nats.Conn, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err.Error() == f.last {
		return
	}
	f.last = err.Error()
	klog.ErrorS(err, "Connecting to NATS failed; retrying every second (logged again when the reason changes)")
}

// reset makes the next failure log again, after a success.
func (f *reconnectFailure) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = ""
}

// Connected is a readiness check: it fails while nc is not connected.
func Connected(nc *nats.Conn) func() error {
	return func() error {
		if !nc.IsConnected() {
			return fmt.Errorf("NATS is %s", nc.Status())
		}
		return nil
	}
}

// RedactURLs returns comma-separated NATS URLs fit for a log line: any
// password or token in them is replaced by "xxxxx".
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if !strings.Contains(p, "://") {
			// nats.go reads a URL without a scheme as nats://, so
			// "user:pass@host" and "token@host" carry secrets too.
			p = "nats://" + p
		}
		u, err := url.Parse(p)
		switch {
		case err != nil || u.Opaque != "":
			parts[i] = "(unparsable URL)" // it might hold a secret
		case u.User != nil:
			if _, hasPassword := u.User.Password(); !hasPassword {
				u.User = url.User("xxxxx") // a bare token
			}
			parts[i] = u.Redacted()
		default:
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
