package farm

import (
	"fmt"
	"os/exec"
	"strings"
)

// ProcessControl pauses a store process the farm started with SIGSTOP and
// resumes it with SIGCONT (Unix only): connections stay open and every
// request hangs, as with a store that froze.
type ProcessControl struct{ Pid int }

// ContainerControl pauses a store's container with `docker pause` and
// resumes it with `docker unpause`.
type ContainerControl struct{ ID string }

// Pause implements StoreControl.
func (c ContainerControl) Pause() error { return docker("pause", c.ID) }

// Resume implements StoreControl.
func (c ContainerControl) Resume() error { return docker("unpause", c.ID) }

func docker(args ...string) error {
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
