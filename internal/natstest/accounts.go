package natstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// AccountUsers are the users deploy/nats/accounts.conf reads a public NKey
// of from the environment (RTCSCALE_<user>_NKEY).
var AccountUsers = []string{"ADAPTER", "SIDECAR_KAMAILIO_0", "SIDECAR_KAMAILIO_1", "SIDECAR_ASTERISK"}

// Accounts runs a server from path, deploy/nats/accounts.conf (the example
// configuration operators start from), with what that file reads from the
// environment made fresh: a CA and a server certificate for 127.0.0.1, a
// JetStream directory, and an NKey for each of AccountUsers. configure, if
// given, adjusts the loaded options (another user, say) before the server
// starts. It returns the server, the CA file that verifies it, and each
// user's seed file by user.
func Accounts(t *testing.T, path string, configure ...func(*server.Options)) (srv *server.Server, caFile string, seeds map[string]string) {
	t.Helper()
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTLS(t, dir)
	t.Setenv("RTCSCALE_NATS_TLS_CERT", certFile)
	t.Setenv("RTCSCALE_NATS_TLS_KEY", keyFile)
	t.Setenv("RTCSCALE_NATS_STORE", filepath.Join(dir, "jetstream"))
	seeds = map[string]string{}
	for _, user := range AccountUsers {
		pub, seed := NewUser(t)
		t.Setenv("RTCSCALE_"+user+"_NKEY", pub)
		seeds[user] = filepath.Join(dir, user+".nk")
		if err := os.WriteFile(seeds[user], seed, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	srv = Start(t, func(o *server.Options) {
		*o = *loaded
		o.Host, o.Port, o.NoLog, o.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true
		for _, c := range configure {
			c(o)
		}
	})
	return srv, caFile, seeds
}

// NewUser returns a new user NKey: its public key and its seed.
func NewUser(t *testing.T) (pub string, seed []byte) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	if pub, err = kp.PublicKey(); err != nil {
		t.Fatal(err)
	}
	if seed, err = kp.Seed(); err != nil {
		t.Fatal(err)
	}
	return pub, seed
}

// writeTLS writes a CA and a server certificate for 127.0.0.1 signed by it.
func writeTLS(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rtcscale test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", der), write("server-key.pem", "EC PRIVATE KEY", keyDER)
}
