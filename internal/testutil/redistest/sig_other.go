//go:build !unix

package redistest

import "syscall"

// sigStop and sigCont stand in for signals this system does not have: sending them fails, so
// Pause fails the test with that error instead of the package not building.
const sigStop, sigCont = syscall.Signal(-1), syscall.Signal(-1)
