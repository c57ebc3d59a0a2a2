//go:build !unix

package farm

import "errors"

var errNoSignals = errors.New("farm: pausing a process needs SIGSTOP (Unix); pause a container instead")

// Pause implements StoreControl.
func (ProcessControl) Pause() error { return errNoSignals }

// Resume implements StoreControl.
func (ProcessControl) Resume() error { return errNoSignals }
