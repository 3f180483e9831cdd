package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/rtcscale/rtcscale/kedascaler"
)

// kedaFlags configure the KEDA external scaler (package kedascaler). It
// is off by default: it is a second serving port, for clusters where KEDA
// owns external.metrics.k8s.io (docs/keda.md).
type kedaFlags struct {
	addr     string
	tls      kedascaler.TLS
	interval time.Duration
}

func (k *kedaFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&k.addr, "keda-scaler-bind-address", "", "where to serve KEDA's external scaler gRPC protocol (host:port, the host optional), for ScaledObject triggers of type external and external-push; empty: off")
	fs.StringVar(&k.tls.CertFile, "keda-scaler-tls-cert-file", "", "the scaler's serving certificate (PEM), read again when it changes; required with --keda-scaler-bind-address unless --keda-scaler-insecure-plaintext")
	fs.StringVar(&k.tls.KeyFile, "keda-scaler-tls-private-key-file", "", "the private key (PEM) of --keda-scaler-tls-cert-file")
	fs.StringVar(&k.tls.ClientCAFile, "keda-scaler-client-ca-file", "", "if set, the scaler requires a client certificate signed by a CA of this PEM bundle (KEDA's tlsClientCert and tlsClientKey)")
	fs.BoolVar(&k.tls.Insecure, "keda-scaler-insecure-plaintext", false, "serve the scaler as plaintext gRPC, without TLS or client authentication: for a demo, or a service mesh that does mTLS itself")
	fs.DurationVar(&k.interval, "keda-scaler-check-interval", time.Second, "how often each StreamIsActive stream checks whether its workload crossed its activation threshold; keep it at most the sidecars' --interval, so that external-push wakes a workload within a sample interval")
}

// validate refuses, at start-up, a scaler that would serve without the
// protection the flags imply, and TLS flags given while it is off.
func (k *kedaFlags) validate() error {
	if k.addr == "" {
		if k.tls != (kedascaler.TLS{}) {
			return errors.New("--keda-scaler-tls-cert-file, --keda-scaler-tls-private-key-file, --keda-scaler-client-ca-file and --keda-scaler-insecure-plaintext need --keda-scaler-bind-address")
		}
		return checkFlags(check{"keda-scaler-check-interval", k.interval, k.interval > 0, "a duration above 0"})
	}
	if err := k.tls.Validate(); err != nil {
		return fmt.Errorf("--keda-scaler-bind-address=%s: %w (--keda-scaler-tls-cert-file and --keda-scaler-tls-private-key-file, or --keda-scaler-insecure-plaintext alone)", k.addr, err)
	}
	return checkFlags(
		check{"keda-scaler-bind-address", k.addr, validAddress(k.addr), "host:port, the host optional"},
		check{"keda-scaler-check-interval", k.interval, k.interval > 0, "a duration above 0"},
	)
}

// start serves the scaler over src until ctx is done, if it is on; fail
// is called if it stops before. A port already taken is an error here, at
// start-up. Call validate first.
func (k *kedaFlags) start(ctx context.Context, src kedascaler.Source, reg prometheus.Registerer, fail func(error)) error {
	if k.addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", k.addr)
	if err != nil {
		return fmt.Errorf("--keda-scaler-bind-address: %w", err)
	}
	s := kedascaler.NewScaler(src, k.interval, kedascaler.NewMetrics(reg))
	go func() {
		if err := kedascaler.Serve(ctx, l, k.tls, s); err != nil {
			fail(fmt.Errorf("KEDA external scaler: %w", err))
		}
	}()
	return nil
}
