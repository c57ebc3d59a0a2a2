// Package image_test builds the production image (the Dockerfile at the
// repository root) and runs it as an operator would: `wxtoken serve` in a
// FROM-scratch container, reaching the WeChat simulator over HTTPS.
package image_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/wxtoken/wxtoken/integration/containertest"
)

const (
	imageTag = "wxtoken-local/wxtoken:dev"
	appID    = "wximage000000001"
	secret   = "image-test-secret"
	clientKy = "image-test-client-key"
)

// config is what every wxtoken container runs: the simulator, reached by
// its name on the test's network, over HTTPS.
const config = `listen: 0.0.0.0:8080
cache: memory://
upstream:
  wechat: https://sim:8443
clients:
  - {name: image-test, key_env: WXTOKEN_CLIENT_KEY}
apps:
  - {id: shop, kind: official, appid: ` + appID + `, secret_env: WX_SHOP_SECRET}
log: {level: info}
`

// TestImageServesOverHTTPSWithTheGivenCA: the image serves a token fetched
// from an HTTPS upstream whose certificate chains to a test CA given by
// SSL_CERT_FILE, and refuses that upstream without it (the built-in roots
// do not hold the test CA).
func TestImageServesOverHTTPSWithTheGivenCA(t *testing.T) {
	if testing.Short() {
		t.Skip("image test skipped in -short mode")
	}
	containertest.Require(t)
	build := exec.Command("../../scripts/build-image", imageTag)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build-image: %v\n%s", err, out)
	}
	certs := writeCerts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	versionNamesTheRevision(ctx, t)
	nw, err := network.New(ctx)
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("creating a network: %v", err)
	}

	run(ctx, t, "sim",
		network.WithNetwork([]string{"sim"}, nw),
		files(certs, "sim.crt", "sim.key"),
		testcontainers.WithCmd("sim", "--addr", "0.0.0.0:8443", "--tls-cert", "/certs/sim.crt", "--tls-key", "/certs/sim.key",
			"--app", appID+":"+secret),
		testcontainers.WithWaitStrategy(wait.ForLog("wxsim listening on https://")),
	)

	serve := run(ctx, t, "serve",
		network.WithNetwork([]string{"wxtoken"}, nw),
		files(certs, "ca.crt"), configFile(t),
		testcontainers.WithEnv(map[string]string{"SSL_CERT_FILE": "/certs/ca.crt", "WX_SHOP_SECRET": secret, "WXTOKEN_CLIENT_KEY": clientKy}),
		testcontainers.WithExposedPorts("8080/tcp"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort("8080/tcp")),
	)
	ep, err := serve.PortEndpoint(ctx, "8080/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ep+"/v1/token/shop", nil)
	req.Header.Set("Authorization", "Bearer "+clientKy)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("GET /v1/token/shop in the image: %d %s", resp.StatusCode, body)
	}
	t.Logf("served %s… fetched over HTTPS with the test CA", tok.AccessToken[:8])

	// The same check an operator runs before going live, with and without
	// the CA: only the run with it reaches upstream.
	withCA, code := check(ctx, t, nw, certs, true)
	if code != 0 || !strings.Contains(withCA, "app shop") {
		t.Fatalf("wxtoken check --upstream with SSL_CERT_FILE: exit %d\n%s", code, withCA)
	}
	without, code := check(ctx, t, nw, certs, false)
	if code == 0 || !strings.Contains(without, "certificate signed by unknown authority") {
		t.Fatalf("wxtoken check --upstream without SSL_CERT_FILE: exit %d, want a refused certificate\n%s", code, without)
	}
	for _, out := range []string{withCA, without} {
		if strings.Contains(out, secret) || strings.Contains(out, clientKy) {
			t.Fatalf("a secret in the check's output:\n%s", out)
		}
	}
	t.Logf("without SSL_CERT_FILE: %s", lineWith(without, "app shop"))
}

// check runs `wxtoken check --upstream` in a container of the image to its
// end, and returns its output and exit code.
func check(ctx context.Context, t *testing.T, nw *testcontainers.DockerNetwork, certs string, withCA bool) (string, int) {
	t.Helper()
	env := map[string]string{"WX_SHOP_SECRET": secret, "WXTOKEN_CLIENT_KEY": clientKy}
	if withCA {
		env["SSL_CERT_FILE"] = "/certs/ca.crt"
	}
	c := run(ctx, t, "check",
		network.WithNetwork([]string{"check"}, nw),
		files(certs, "ca.crt"), configFile(t),
		testcontainers.WithEnv(env),
		testcontainers.WithCmd("check", "--config", "/etc/wxtoken/wxtoken.yaml", "--upstream", "--timeout", "20s"),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(time.Minute)),
	)
	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := c.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(logs)
	logs.Close()
	return string(out), st.ExitCode
}

// versionNamesTheRevision checks that the image's `wxtoken version`
// names the commit it was built from (a plain go build in the workspace
// records none: it printed "(devel)" alone).
func versionNamesTheRevision(ctx context.Context, t *testing.T) {
	t.Helper()
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Logf("not in a git checkout, the revision is not checked: %v", err)
		return
	}
	c := run(ctx, t, "version", testcontainers.WithCmd("version"),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(time.Minute)))
	logs, err := c.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(logs)
	logs.Close()
	if want := "revision " + strings.TrimSpace(string(head)); !strings.Contains(string(out), want) {
		t.Errorf("wxtoken version in the image lacks %q:\n%s", want, out)
	}
}

// run starts a container of the image and removes it when the test ends.
func run(ctx context.Context, t *testing.T, what string, opts ...testcontainers.ContainerCustomizer) *testcontainers.DockerContainer {
	t.Helper()
	c, err := testcontainers.Run(ctx, imageTag, opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("starting the %s container: %v", what, err)
	}
	return c
}

// files copies the named files of dir into the container's /certs, readable
// by the image's user (nobody).
func files(dir string, names ...string) testcontainers.ContainerCustomizer {
	var fs []testcontainers.ContainerFile
	for _, n := range names {
		fs = append(fs, testcontainers.ContainerFile{HostFilePath: filepath.Join(dir, n), ContainerFilePath: "/certs/" + n, FileMode: 0o644})
	}
	return testcontainers.WithFiles(fs...)
}

// configFile puts the config where the image's default command reads it.
func configFile(t *testing.T) testcontainers.ContainerCustomizer {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wxtoken.yaml")
	if err := os.WriteFile(p, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return testcontainers.WithFiles(testcontainers.ContainerFile{HostFilePath: p, ContainerFilePath: "/etc/wxtoken/wxtoken.yaml", FileMode: 0o644})
}

// writeCerts makes a test CA and a certificate it signs for the name
// "sim", and writes ca.crt, sim.crt and sim.key into a temporary directory.
func writeCerts(t *testing.T) string {
	t.Helper()
	now := time.Now()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wxtoken image test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	simKey := newKey(t)
	simTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sim"}, DNSNames: []string{"sim"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	simDER, err := x509.CreateCertificate(rand.Reader, simTmpl, ca, &simKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	simKeyDER, err := x509.MarshalECPrivateKey(simKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, block := range map[string]*pem.Block{
		"ca.crt":  {Type: "CERTIFICATE", Bytes: caDER},
		"sim.crt": {Type: "CERTIFICATE", Bytes: simDER},
		"sim.key": {Type: "EC PRIVATE KEY", Bytes: simKeyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
