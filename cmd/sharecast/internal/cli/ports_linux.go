package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// procRoot is where procfs is mounted.
const procRoot = "/proc"

// readHostTables reads the UDP sockets bound to ports (all, if none),
// the processes that hold them, and the memberships of every interface.
func readHostTables(ports []uint16) (*hostTables, error) {
	t := &hostTables{procs: map[uint64][]procInfo{}}
	var err error
	if t.udp4, err = readProcFile("net/udp", parseProcUDP); err != nil {
		return nil, err
	}
	if t.udp6, err = readProcFile("net/udp6", parseProcUDP); err != nil {
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
	g4, err := readProcFile("net/igmp", parseProcIGMP)
	if err != nil {
		return nil, err
	}
	g6, err := readProcFile("net/igmp6", parseProcIGMP6)
	if err != nil {
		return nil, err
	}
	t.groups = slices.Concat(g4, g6)
	for _, f := range []string{"net/mcfilter", "net/mcfilter6"} {
		fs, err := readProcFile(f, parseProcMcfilter)
		if err != nil {
			return nil, err
		}
		addFilters(t.groups, fs)
	}
	return t, nil
}

// readProcFile parses a file of /proc; a file that does not exist (IPv6
// disabled) reads as empty.
func readProcFile[T any](name string, parse func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := os.Open(filepath.Join(procRoot, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return out, nil
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
			inode, ok := parseSocketLink(target)
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
