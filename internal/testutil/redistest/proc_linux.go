package redistest

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr makes the kernel kill redis-server when the test binary dies without running its
// cleanups (a panic, or the go test timeout), so that no server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// stopped reports whether the process pid is stopped by a signal: state T in /proc/pid/stat.
func stopped(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may itself hold spaces or
	// parentheses: hence the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'T'
}
