//go:build !linux

package server_test

import "syscall"

// srSysProcAttr returns nil: only Linux can tie a child's life to its parent's. Elsewhere the
// test cleanups are what stop the processes.
func srSysProcAttr() *syscall.SysProcAttr { return nil }
