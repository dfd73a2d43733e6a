//go:build unix && !linux

package cli

import (
	"os"
	"syscall"
)

func selfExe() string {
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}

func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

func uidMapped(uid int) error { return nil }
