package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certPath, keyPath string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wxtoken test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

func TestServeTLS(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	t.Setenv("TLS_DEMO_SECRET", "tls-demo-secret")
	cfg := filepath.Join(t.TempDir(), "tls.yaml")
	os.WriteFile(cfg, []byte(`listen: 127.0.0.1:18984
insecure_no_auth: true
tls: {cert: `+certPath+`, key: `+keyPath+`}
upstream: {wechat: sim}
apps:
  - {id: demo, appid: wxtls000000001, secret_env: TLS_DEMO_SECRET}
log: {level: warn}
`), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := run(t, ctx, "serve", "--config", cfg); done <- err }()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Get("https://127.0.0.1:18984/v1/token/demo")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.TLS == nil {
				t.Fatalf("GET over TLS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve with TLS did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, err := http.Get("http://127.0.0.1:18984/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("a TLS server answered plain HTTP")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve did not stop cleanly: %v", err)
	}
}

// `wxtoken sim --tls-cert --tls-key` serves HTTPS; one without the other is
// refused.
func TestSimTLS(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	if _, err := run(t, context.Background(), "sim", "--addr", "127.0.0.1:0", "--tls-cert", certPath); err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Fatalf("sim with a certificate and no key = %v, want an error naming --tls-key", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := run(t, ctx, "sim", "--addr", "127.0.0.1:18985", "--tls-cert", certPath, "--tls-key", keyPath)
		done <- err
	}()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Get("https://127.0.0.1:18985/cgi-bin/token?grant_type=client_credential&appid=" + demoAppID + "&secret=" + demoSecret)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.TLS == nil || !strings.Contains(string(body), "access_token") {
				t.Fatalf("sim over TLS answered %s (TLS %v)", body, resp.TLS != nil)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sim with TLS did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("sim did not stop cleanly: %v", err)
	}
}
