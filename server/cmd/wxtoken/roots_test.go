package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"testing"
	"time"
)

// In a process that sees no system roots (as in an image FROM scratch),
// the binary still trusts the public roots WeChat's certificates chain to:
// ISRG Root X1 here, checked offline. The test runs itself again with
// SSL_CERT_FILE and SSL_CERT_DIR pointing at nothing.
func TestFallbackRootsAreLinked(t *testing.T) {
	if os.Getenv("WXTOKEN_ROOTS_CHILD") == "1" {
		verifyPublicRoot(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFallbackRootsAreLinked$", "-test.v")
	cmd.Env = append(os.Environ(), "WXTOKEN_ROOTS_CHILD=1", "SSL_CERT_FILE=/nonexistent/ca.pem", "SSL_CERT_DIR=/nonexistent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rule: with no system roots, the binary verifies against its own: %v\n%s", err, out)
	}
}

func verifyPublicRoot(t *testing.T) {
	raw, err := os.ReadFile("testdata/isrg-root-x1.pem")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatal("testdata/isrg-root-x1.pem holds no PEM block")
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	// Roots nil: the system's pool, or the fallback when there is none.
	_, err = root.Verify(x509.VerifyOptions{CurrentTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatalf("ISRG Root X1 does not verify without system roots: %v", err)
	}
}
