package bidi

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup puts Firefox and the content processes it forks in a group of
// their own, so killProcessGroup ends them all, and kills Firefox should the test
// process die without closing it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killProcessGroup(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
