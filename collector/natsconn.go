package collector

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"k8s.io/klog/v2"
)

// NATSOptions say how to reach NATS. They follow the nats CLI's names.
type NATSOptions struct {
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
}

// Dial connects to NATS and keeps reconnecting forever: an adapter that gave
// up would serve nothing until restarted. metrics may be nil.
func Dial(o NATSOptions, metrics *Metrics) (*nats.Conn, error) {
	if o.URL == "" {
		return nil, errors.New("no NATS URL given (--nats-url)")
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		nats.ConnectHandler(func(*nats.Conn) {
			klog.InfoS("Connected to NATS")
			metrics.natsConnected(true)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			klog.InfoS("Disconnected from NATS; values go stale until it is back", "err", err)
			metrics.natsConnected(false)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			klog.InfoS("Reconnected to NATS")
			metrics.natsConnected(true)
			metrics.natsReconnected()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				metrics.natsDropped()
			}
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
	metrics.natsConnected(nc.IsConnected())
	return nc, nil
}
