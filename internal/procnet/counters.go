package procnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Counter is one counter of snmp or netstat: "Udp" "RcvbufErrors" 12.
type Counter struct {
	Group string // the prefix of its lines, without the colon: "Udp", "TcpExt"
	Name  string
	Value int64 // most are unsigned; Tcp's MaxConn is -1
}

// ParseCounters parses snmp or netstat (the two share a format; file names
// the one in an error): pairs of lines, the names of a group's counters
// after "Group:", then their values after the same prefix.
func ParseCounters(r io.Reader, file string) ([]Counter, error) {
	var out []Counter
	var names []string // the pending names line, prefix first
	namesLine := 0
	sc := bufio.NewScanner(r)
	n := 0
	fail := func(line int, text string, err error) error {
		return &LineError{File: file, Line: line, Text: text, Err: err}
	}
	var namesText string
	for sc.Scan() {
		n++
		text := sc.Text()
		fs := strings.Fields(text)
		if len(fs) == 0 {
			continue
		}
		if len(fs[0]) < 2 || !strings.HasSuffix(fs[0], ":") {
			return nil, fail(n, text, errors.New("no \"Group:\" prefix"))
		}
		if names == nil {
			names, namesLine, namesText = fs, n, text
			continue
		}
		if fs[0] != names[0] {
			return nil, fail(n, text, fmt.Errorf("values of %s after the names of %s", fs[0], names[0]))
		}
		if len(fs) < len(names) {
			return nil, fail(n, text, fmt.Errorf("%d values for %d names", len(fs)-1, len(names)-1))
		}
		group := strings.TrimSuffix(names[0], ":")
		for i, name := range names[1:] {
			v, err := strconv.ParseInt(fs[i+1], 10, 64)
			if err != nil {
				return nil, fail(n, text, fmt.Errorf("%s: %q is not an integer", name, fs[i+1]))
			}
			out = append(out, Counter{Group: group, Name: name, Value: v})
		}
		names = nil
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, &LineError{File: file, Line: n + 1, Err: err}
	} else if err != nil {
		return nil, fmt.Errorf("procnet: reading %s: %w", file, err)
	}
	if names != nil {
		return nil, fail(namesLine, namesText, errors.New("names without a line of values"))
	}
	return out, nil
}

// Lookup returns the value of the counter group name ("Udp", "RcvbufErrors")
// in cs.
func Lookup(cs []Counter, group, name string) (int64, bool) {
	for _, c := range cs {
		if c.Group == group && c.Name == name {
			return c.Value, true
		}
	}
	return 0, false
}

// ReadSNMP reads snmp (IP, ICMP, TCP and UDP counters, IPv4 and
// UDP-Lite) of the calling thread's network namespace.
func ReadSNMP() ([]Counter, error) {
	return read("snmp", func(r io.Reader) ([]Counter, error) { return ParseCounters(r, "snmp") })
}

// ReadNetstat reads netstat (the kernel's extended counters, TcpExt and
// IpExt: IPReversePathFilter among them) of the calling thread's network
// namespace.
func ReadNetstat() ([]Counter, error) {
	return read("netstat", func(r io.Reader) ([]Counter, error) { return ParseCounters(r, "netstat") })
}

// ParseSysctl parses a sysctl file that holds one integer (name names it
// in an error).
func ParseSysctl(r io.Reader, name string) (int64, error) {
	cs, err := parseLines(r, name, false, func(text string, fs []string) (int64, bool, error) {
		if len(fs) != 1 {
			return 0, false, fmt.Errorf("%d fields, not one integer", len(fs))
		}
		v, err := strconv.ParseInt(fs[0], 10, 64)
		return v, err == nil, err
	})
	if err != nil {
		return 0, err
	}
	if len(cs) != 1 {
		return 0, &LineError{File: name, Line: 1, Err: fmt.Errorf("%d values, not one", len(cs))}
	}
	return cs[0], nil
}

// ReadSysctl reads the integer sysctl name ("net.core.rmem_max",
// "net.ipv4.conf.eth0.rp_filter") of the calling thread's network
// namespace: /proc/sys/net shows the namespace of the thread that opens
// it. As sysctl(8) writes them, a dot in an interface's name is a slash
// in name ("net.ipv4.conf.eth0/100.rp_filter"). A sysctl that does not
// exist (of an interface that does not) is an error that matches
// fs.ErrNotExist.
func ReadSysctl(name string) (int64, error) {
	path := strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, name)
	f, err := os.Open("/proc/sys/" + path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return ParseSysctl(f, name)
}
