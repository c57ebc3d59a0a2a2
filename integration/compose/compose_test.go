package compose_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/integration/containertest"
)

// TestComposeExample runs examples/compose/run.sh: three wxtoken serve containers on one
// Redis container with the simulator, from images built here.
func TestComposeExample(t *testing.T) {
	if testing.Short() {
		t.Skip("compose example skipped in -short mode")
	}
	containertest.Require(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-compose is required under CI")
		}
		t.Skip("no docker-compose")
	}
	out, err := exec.Command("../../examples/compose/run.sh").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS:") {
		t.Fatalf("run.sh: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "instance tokens") || strings.HasPrefix(line, "after invalidation") || strings.HasPrefix(line, "PASS") {
			t.Log(line)
		}
	}
}
