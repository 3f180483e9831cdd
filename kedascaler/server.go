package kedascaler

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/klog/v2"
)

// TLS is the scaler's transport security.
type TLS struct {
	// CertFile and KeyFile are the serving certificate and key (PEM).
	// They are read again when they change, as cert-manager renews them.
	CertFile, KeyFile string
	// ClientCAFile, if set, makes a client certificate signed by one of
	// its CAs a requirement: KEDA sends the trigger authentication's
	// tlsClientCert and tlsClientKey.
	ClientCAFile string
	// Insecure serves plaintext gRPC, with no certificate at all: for a
	// demo, or a mesh that does mTLS itself. It must be asked for.
	Insecure bool
}

// Validate refuses a configuration that would serve without the
// protection it implies: no certificate without Insecure, or a client CA
// and a certificate with it.
func (t TLS) Validate() error {
	switch {
	case t.Insecure && (t.CertFile != "" || t.KeyFile != "" || t.ClientCAFile != ""):
		return errors.New("plaintext takes no certificate, key or client CA")
	case t.Insecure:
		return nil
	case t.CertFile == "" || t.KeyFile == "":
		return errors.New("a serving certificate and key are required, or plaintext must be asked for explicitly")
	}
	return nil
}

// credentials returns the server's transport credentials, and starts
// watching the files until ctx is done.
func (t TLS) credentials(ctx context.Context) (credentials.TransportCredentials, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if t.Insecure {
		return insecure.NewCredentials(), nil
	}
	serving, err := dynamiccertificates.NewDynamicServingContentFromFiles("keda-scaler-serving", t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	go serving.Run(ctx, 1)
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, key := serving.CurrentCertKeyContent()
			pair, err := tls.X509KeyPair(cert, key)
			return &pair, err
		},
	}
	if t.ClientCAFile != "" {
		ca, err := dynamiccertificates.NewDynamicCAContentFromFile("keda-scaler-client-ca", t.ClientCAFile)
		if err != nil {
			return nil, err
		}
		go ca.Run(ctx, 1)
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca.CurrentCABundleContent()) {
				return nil, fmt.Errorf("client CA %s holds no certificate", t.ClientCAFile)
			}
			c := cfg.Clone()
			c.GetConfigForClient = nil
			c.ClientCAs = pool
			return c, nil
		}
	}
	return credentials.NewTLS(cfg), nil
}

// Serve serves s on l with t until ctx is done. It closes l. Stopping
// closes the connections at once rather than waiting for the streams,
// which only end when their client goes: KEDA reopens them on the next
// replica.
func Serve(ctx context.Context, l net.Listener, t TLS, s *Scaler) error {
	creds, err := t.credentials(ctx)
	if err != nil {
		l.Close()
		return err
	}
	srv := grpc.NewServer(grpc.Creds(creds),
		grpc.ChainUnaryInterceptor(s.metrics.unary), grpc.ChainStreamInterceptor(s.metrics.stream))
	externalscaler.RegisterExternalScalerServer(srv, s)
	klog.InfoS("Serving the KEDA external scaler", "address", l.Addr().String(), "tls", !t.Insecure, "clientCertificates", t.ClientCAFile != "")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		srv.Stop()
		<-served
		return nil
	case err := <-served:
		srv.Stop()
		return err
	}
}
