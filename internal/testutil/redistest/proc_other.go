//go:build !linux

package redistest

import "syscall"

// sysProcAttr returns nil: only Linux can tie a child's life to its parent's. Elsewhere the
// test cleanups are what stop the servers.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// stopped reports true: there is no portable way to see a process's state, so Pause returns
// once SIGSTOP is sent.
func stopped(int) bool { return true }
