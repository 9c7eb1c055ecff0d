package server_test

import "syscall"

// srSysProcAttr makes the kernel kill a process the tests start when the test binary dies
// without running its cleanups (the go test timeout), so that no gateway outlives its test.
func srSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
