package cli

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// selfExe is the path that re-executes this program. /proc/self/exe
// reaches the executable even where its directory is closed to the other
// user (such as a private build directory).
func selfExe() string { return "/proc/self/exe" }

func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }

// uidMapped checks that uid exists in this user namespace (a namespace
// made by an unprivileged user maps only that user).
func uidMapped(uid int) error {
	f, err := os.Open("/proc/self/uid_map")
	if err != nil {
		return nil // no user namespaces: every uid exists
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue
		}
		lo, err1 := strconv.ParseUint(fs[0], 10, 32)
		n, err2 := strconv.ParseUint(fs[2], 10, 32)
		if err1 == nil && err2 == nil && uint64(uid) >= lo && uint64(uid) < lo+n {
			return nil
		}
	}
	return fmt.Errorf("uid %d does not exist in this user namespace", uid)
}
