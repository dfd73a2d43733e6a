package group

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// kernelHolds reports whether interface index holds group, as
// /proc/net/igmp (IPv4) or /proc/net/igmp6 (IPv6) of the calling thread's
// network namespace list it.
func kernelHolds(v6 bool, index int, group netip.Addr) (held, known bool) {
	gs, err := kernelGroups(v6)
	if err != nil {
		return false, false
	}
	for _, g := range gs[index] {
		if g == group {
			return true, true
		}
	}
	return false, true
}

// kernelGroups returns the groups that each interface holds, by index.
func kernelGroups(v6 bool) (map[int][]netip.Addr, error) {
	name := "igmp"
	if v6 {
		name = "igmp6"
	}
	// thread-self: the namespace of this thread, which the watcher may
	// have moved to the namespace of its Set.
	f, err := os.Open("/proc/thread-self/net/" + name)
	if err != nil {
		f, err = os.Open("/proc/net/" + name)
		if err != nil {
			return nil, err
		}
	}
	defer f.Close()
	if v6 {
		return parseIGMP6(f)
	}
	return parseIGMP(f)
}

// parseIGMP reads /proc/net/igmp: a line per interface ("1\tlo : 1 V3")
// followed by a tab-indented line per group, whose address is the 32-bit
// big-endian value printed by a little- or big-endian CPU as a number.
func parseIGMP(r io.Reader) (map[int][]netip.Addr, error) {
	out := make(map[int][]netip.Addr)
	sc := bufio.NewScanner(r)
	idx := -1
	for sc.Scan() {
		line := sc.Text()
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if line[0] != '\t' {
			n, err := strconv.Atoi(fs[0])
			if err != nil {
				idx = -1 // the heading
				continue
			}
			idx = n
			continue
		}
		v, err := strconv.ParseUint(fs[0], 16, 32)
		if err != nil || idx < 0 {
			continue
		}
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], uint32(v))
		out[idx] = append(out[idx], netip.AddrFrom4(b))
	}
	return out, sc.Err()
}

// parseIGMP6 reads /proc/net/igmp6: "idx name group users flags timer",
// the group as 32 hex digits.
func parseIGMP6(r io.Reader) (map[int][]netip.Addr, error) {
	out := make(map[int][]netip.Addr)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || len(fs[2]) != 32 {
			continue
		}
		idx, err := strconv.Atoi(fs[0])
		if err != nil {
			continue
		}
		var b [16]byte
		if _, err := hex.Decode(b[:], []byte(fs[2])); err != nil {
			continue
		}
		out[idx] = append(out[idx], netip.AddrFrom16(b))
	}
	return out, sc.Err()
}
