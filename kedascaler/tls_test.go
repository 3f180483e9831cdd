package kedascaler

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// pki is a CA and what it signed, as KEDA's TriggerAuthentication and the
// adapter's Secret hold them: PEM files.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.ca, p.caKey, p.caFile = p.issue(t, "ca", &x509.Certificate{
		Subject: pkix.Name{CommonName: "rtcscale test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	})
	return p
}

// issue signs tmpl with the CA (itself, for the CA) and writes NAME.crt
// and NAME.key.
func (p *pki) issue(t *testing.T, name string, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	parent, signer := tmpl, key
	if p.ca != nil {
		parent, signer = p.ca, p.caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(p.dir, name+".crt")
	write(t, certFile, "CERTIFICATE", der)
	write(t, filepath.Join(p.dir, name+".key"), "EC PRIVATE KEY", keyDER)
	return cert, key, certFile
}

func write(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serving issues the scaler's certificate for 127.0.0.1.
func (p *pki) serving(t *testing.T) (certFile, keyFile string) {
	_, _, certFile = p.issue(t, "serving", &x509.Certificate{
		Subject: pkix.Name{CommonName: "rtcscale"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return certFile, filepath.Join(p.dir, "serving.key")
}

// client returns KEDA's side: it checks the server with the CA (caCert)
// and, unless signer is nil, presents a client certificate signer issues
// (tlsClientCert, tlsClientKey).
func (p *pki) client(t *testing.T, signer *pki) credentials.TransportCredentials {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(p.ca)
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if signer != nil {
		_, _, certFile := signer.issue(t, "keda", &x509.Certificate{
			Subject: pkix.Name{CommonName: "keda-operator"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		pair, err := tls.LoadX509KeyPair(certFile, filepath.Join(signer.dir, "keda.key"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg)
}

var specRef = ref("voice", map[string]string{"gauge": "calls", "workload": "deployments.apps/asterisk", "target": "50"})

func TestTLS(t *testing.T) {
	p := newPKI(t)
	certFile, keyFile := p.serving(t)
	r := newRig(t, TLS{CertFile: certFile, KeyFile: keyFile}, p.client(t, nil))
	if _, err := r.scaler.GetMetricSpec(context.Background(), specRef); err != nil {
		t.Errorf("TLS without a client CA, client without a certificate: %v", err)
	}
}

func TestClientCertificates(t *testing.T) {
	p := newPKI(t)
	certFile, keyFile := p.serving(t)
	cfg := TLS{CertFile: certFile, KeyFile: keyFile, ClientCAFile: p.caFile}
	withCert := newRig(t, cfg, p.client(t, p))
	if _, err := withCert.scaler.GetMetricSpec(context.Background(), specRef); err != nil {
		t.Errorf("client with a certificate the client CA signed: %v", err)
	}
	for name, creds := range map[string]credentials.TransportCredentials{
		"without a certificate":         p.client(t, nil),
		"with another CA's certificate": p.client(t, newPKI(t)),
	} {
		r := newRig(t, cfg, creds)
		if _, err := r.scaler.GetMetricSpec(context.Background(), specRef); status.Code(err) != codes.Unavailable {
			t.Errorf("client %s: %v, want refused (Unavailable)", name, err)
		}
		if n := sum(t, r.reg, "rtcscale_keda_scaler_requests_total", nil); n != 0 {
			t.Errorf("client %s reached the scaler: requests_total = %v", name, n)
		}
	}
}

func TestValidateTLS(t *testing.T) {
	for _, tc := range []struct {
		cfg TLS
		ok  bool
	}{
		{TLS{}, false},
		{TLS{CertFile: "c"}, false},
		{TLS{ClientCAFile: "ca"}, false},
		{TLS{Insecure: true}, true},
		{TLS{Insecure: true, CertFile: "c", KeyFile: "k"}, false},
		{TLS{Insecure: true, ClientCAFile: "ca"}, false},
		{TLS{CertFile: "c", KeyFile: "k"}, true},
		{TLS{CertFile: "c", KeyFile: "k", ClientCAFile: "ca"}, true},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v, want ok %v", tc.cfg, err, tc.ok)
		}
	}
}

var _ externalscaler.ExternalScalerServer = (*Scaler)(nil)
