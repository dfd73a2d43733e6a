package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sharecast/sharecast/internal/procnet"
)

// procRoot is where procfs is mounted.
const procRoot = "/proc"

// readHostTables reads the UDP sockets bound to ports (all, if none),
// the processes that hold them, and the memberships of every interface.
func readHostTables(ports []uint16) (*hostTables, error) {
	t := &hostTables{procs: map[uint64][]procInfo{}}
	var err error
	if t.udp4, err = orEmpty(procnet.ReadUDP(procnet.IPv4)); err != nil {
		return nil, err
	}
	if t.udp6, err = orEmpty(procnet.ReadUDP(procnet.IPv6)); err != nil {
		return nil, err
	}
	want := map[uint64]bool{}
	for _, e := range slices.Concat(t.udp4, t.udp6) {
		if len(ports) == 0 || slices.Contains(ports, e.Local.Port()) {
			want[e.Inode] = true
		}
	}
	denied := findSocketOwners(want, t.procs)
	if denied > 0 {
		t.notes = append(t.notes, fmt.Sprintf("%d processes could not be inspected (run as root to see every process that holds a socket)", denied))
	}
	for _, f := range []procnet.Family{procnet.IPv4, procnet.IPv6} {
		ms, err := orEmpty(procnet.ReadIGMP(f))
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			t.groups = append(t.groups, membership{IfIndex: m.IfIndex, IfName: m.IfName, Group: m.Group, Users: m.Users})
		}
	}
	for _, f := range []procnet.Family{procnet.IPv4, procnet.IPv6} {
		fs, err := orEmpty(procnet.ReadMcfilter(f))
		if err != nil {
			return nil, err
		}
		addFilters(t.groups, fs)
	}
	return t, nil
}

// orEmpty returns what a procnet reader returned, but a file that does not
// exist (IPv6 disabled) reads as empty.
func orEmpty[T any](rs []T, err error) ([]T, error) {
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return rs, err
}

// findSocketOwners walks /proc/PID/fd and records, for each inode of want,
// the processes that have it open. It returns how many processes it could
// not inspect.
func findSocketOwners(want map[uint64]bool, procs map[uint64][]procInfo) (denied int) {
	if len(want) == 0 {
		return 0
	}
	dirs, err := os.ReadDir(procRoot)
	if err != nil {
		return 0
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(procRoot, d.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				denied++
			}
			continue // also a process that exited meanwhile
		}
		var prog string
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			inode, ok := procnet.SocketInode(target)
			if !ok || !want[inode] {
				continue
			}
			if prog == "" {
				prog = programName(d.Name())
			}
			if !slices.ContainsFunc(procs[inode], func(p procInfo) bool { return p.PID == pid }) {
				procs[inode] = append(procs[inode], procInfo{PID: pid, Program: prog})
			}
		}
	}
	return denied
}

func programName(pid string) string {
	b, err := os.ReadFile(filepath.Join(procRoot, pid, "comm"))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
