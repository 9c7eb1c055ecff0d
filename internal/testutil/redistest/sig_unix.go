//go:build unix

package redistest

import "syscall"

// sigStop and sigCont freeze and continue a process, for Pause and Resume.
const sigStop, sigCont = syscall.SIGSTOP, syscall.SIGCONT
