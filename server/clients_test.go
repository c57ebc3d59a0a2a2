package server_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The clients in docs/clients, as written, run against a real server in
// their languages' real runtimes: a token, a call repaired after upstream
// revoked the token (through the simulator's admin route: one report, one
// retry), a JS-SDK signature, a refused key, and a clear error, without
// the key, when the server is down.
func TestClients(t *testing.T) {
	dir, err := filepath.Abs("../docs/clients")
	if err != nil {
		t.Fatal(err)
	}
	langs := []struct {
		name, pkg string
		tools     []string
		cmd       func(t *testing.T, dir string, tools []string, args []string) *exec.Cmd
	}{
		{"python", "Debian's python3 package", []string{"python3"}, func(t *testing.T, dir string, tools, args []string) *exec.Cmd {
			cmd := exec.Command(tools[0], append([]string{"client_check.py"}, args...)...)
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
			return cmd
		}},
		{"node", "Debian's nodejs package", []string{"node"}, func(t *testing.T, dir string, tools, args []string) *exec.Cmd {
			return exec.Command(tools[0], append([]string{"client_check.mjs"}, args...)...)
		}},
		{"php", "Debian's php-cli and php-curl packages", []string{"php"}, func(t *testing.T, dir string, tools, args []string) *exec.Cmd {
			return exec.Command(tools[0], append([]string{"client_check.php"}, args...)...)
		}},
		{"java", "Debian's default-jdk-headless and libjackson2-databind-java packages", []string{"javac", "java"}, func(t *testing.T, dir string, tools, args []string) *exec.Cmd {
			jars := []string{"/usr/share/java/jackson-databind.jar", "/usr/share/java/jackson-core.jar", "/usr/share/java/jackson-annotations.jar"}
			for _, j := range jars {
				if _, err := os.Stat(j); err != nil {
					if os.Getenv("CI") != "" {
						t.Fatalf("%s is missing: install libjackson2-databind-java", j)
					}
					t.Skipf("%s is missing: install libjackson2-databind-java", j)
				}
			}
			classes := t.TempDir()
			cp := strings.Join(jars, ":")
			javac := exec.Command(tools[0], "-Xlint:all", "-Werror", "-d", classes, "-cp", cp, "WxtokenClient.java", "ClientCheck.java")
			javac.Dir = dir
			if out, err := javac.CombinedOutput(); err != nil {
				t.Fatalf("javac: %v\n%s", err, out)
			}
			return exec.Command(tools[1], append([]string{"-cp", cp + ":" + classes, "ClientCheck"}, args...)...)
		}},
	}
	for _, lang := range langs {
		t.Run(lang.name, func(t *testing.T) {
			var tools []string
			for _, name := range lang.tools {
				tools = append(tools, tool(t, lang.pkg, name))
			}
			e := newEnv(t)
			cmd := lang.cmd(t, dir, tools, []string{e.http.URL, billingKey, "shop", e.sim.URL, deadURL(t)})
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "PASS") {
				t.Fatalf("the %s client: %v\n%s", lang.name, err, out)
			}
			if n := e.sim.Stats().Calls["/cgi-bin/token"]; n != 2 {
				t.Errorf("upstream token calls: %d, want 2 (the first token, one replacement after the revocation)", n)
			}
		})
	}
}

// deadURL is an http URL where nothing listens.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
