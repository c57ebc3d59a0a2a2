//go:build !linux

package localserver

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }
