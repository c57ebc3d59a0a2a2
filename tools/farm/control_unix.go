//go:build unix

package farm

import "syscall"

// Pause implements StoreControl.
func (p ProcessControl) Pause() error { return syscall.Kill(p.Pid, syscall.SIGSTOP) }

// Resume implements StoreControl.
func (p ProcessControl) Resume() error { return syscall.Kill(p.Pid, syscall.SIGCONT) }
