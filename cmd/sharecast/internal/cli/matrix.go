package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sharecast/sharecast/internal/sockerr"
	"github.com/sharecast/sharecast/mcast"
)

// The rows and columns of the bind matrix, in the order of Microsoft's
// tables ("Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE"), with the
// same-user mode added.
var (
	matrixModes = []string{"default", "any", "user", "exclusive"}
	matrixAddrs = []string{"wildcard", "specific"}
)

// The outcomes of a bind, as Microsoft's tables write them.
const (
	outcomeSuccess = "Success"
	outcomeInUse   = "INUSE"  // EADDRINUSE, WSAEADDRINUSE
	outcomeAccess  = "ACCESS" // EACCES, WSAEACCES
	outcomeNA      = "n/a"    // the mode does not exist on this OS
	outcomeError   = "ERROR"  // anything else
)

// modeOptions says which socket options each mode sets, per OS (what
// package mcast does; "default" is a socket without options, as the
// standard library opens it).
func modeOptions(goos string) map[string]string {
	switch goos {
	case "linux":
		return map[string]string{"default": "no option", "any": "SO_REUSEADDR", "user": "SO_REUSEPORT", "exclusive": "no option (Linux has no exclusive option)"}
	case "windows":
		return map[string]string{"default": "no option", "any": "SO_REUSEADDR", "user": "not supported", "exclusive": "SO_EXCLUSIVEADDRUSE"}
	}
	return map[string]string{"default": "no option", "any": "SO_REUSEADDR + SO_REUSEPORT", "user": "not supported", "exclusive": "no option"}
}

type bindSpec struct {
	Mode string `json:"mode"`
	Addr string `json:"address"` // wildcard or specific
}

type matrixCell struct {
	First   bindSpec `json:"first"`
	Second  bindSpec `json:"second"`
	Outcome string   `json:"outcome"`
	Error   string   `json:"error,omitempty"`
}

type matrixTable struct {
	Title     string       `json:"title"`
	SameUser  bool         `json:"same_user"`
	FirstUID  int          `json:"first_uid"`  // -1 where the OS has no uid (Windows)
	SecondUID int          `json:"second_uid"` // -1 likewise
	Cells     []matrixCell `json:"cells"`
	Skipped   string       `json:"skipped,omitempty"`
}

type matrixReport struct {
	OS       string            `json:"os"`
	Arch     string            `json:"arch"`
	Network  string            `json:"network"`
	Wildcard string            `json:"wildcard"`
	Specific string            `json:"specific"`
	Modes    map[string]string `json:"modes"`
	Tables   []matrixTable     `json:"tables"`
}

// cell returns the outcome for a first and second bind.
func (t *matrixTable) cell(first, second bindSpec) *matrixCell {
	for i := range t.Cells {
		if t.Cells[i].First == first && t.Cells[i].Second == second {
			return &t.Cells[i]
		}
	}
	return nil
}

type matrixFlags struct {
	format   string
	family   int
	specific string
	otherUID int
	noOther  bool
}

func newMatrixCmd(e *env) *cobra.Command {
	var f matrixFlags
	cmd := &cobra.Command{
		Use:   "matrix",
		Short: "Show what this OS does with two binds on one UDP port",
		Long: `matrix binds two UDP sockets to one port, for every pair of
{default, any, user, exclusive} x {wildcard, specific address}, and prints
whether the second bind succeeds (Success), finds the port in use (INUSE:
EADDRINUSE) or is refused (ACCESS: EACCES), laid out like the tables of
Microsoft's "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE": the first bind's
mode and address down the side, the second's across the top.

The modes are sharecast's --share modes (any, user, exclusive) and the
plain socket (default), with the socket options each sets on this OS. The
first table has both binds by one user; as root, a second table has the
second bind made by another user (--other-uid, 65534 "nobody" by default),
from a child process. matrix only binds and closes sockets: it sends
nothing. The ports are free ports picked by the kernel.`,
		Example: `  sharecast matrix
  sudo sharecast matrix --other-uid 1000
  sharecast matrix --family 6 --format json`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if f.format != "text" && f.format != "json" {
				return usagef("invalid argument %q for \"--format\" flag: want text or json", f.format)
			}
			network, wildcard, specific := "udp4", netip.IPv4Unspecified(), netip.MustParseAddr("127.0.0.1")
			switch f.family {
			case 4:
			case 6:
				network, wildcard, specific = "udp6", netip.IPv6Unspecified(), netip.IPv6Loopback()
			default:
				return usagef("invalid argument %d for \"--family\" flag: want 4 or 6", f.family)
			}
			if f.specific != "" {
				a, err := netip.ParseAddr(f.specific)
				if err != nil || a.Is4() != (f.family == 4) || a.IsUnspecified() {
					return usagef("invalid argument %q for \"--specific\" flag: want a unicast address of IPv%d on this host", f.specific, f.family)
				}
				specific = a
				// The address must be this host's: a bind to any other fails
				// in every cell, and the table would say nothing.
				probe, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
				if err != nil {
					return usagef("invalid argument %q for \"--specific\" flag: not an address of this host: %w", f.specific, err)
				}
				probe.Close()
			}
			if f.otherUID < 0 || int64(f.otherUID) > math.MaxUint32-1 {
				return usagef("invalid argument %d for \"--other-uid\" flag: want a uid, 0 to %d", f.otherUID, uint32(math.MaxUint32-1))
			}
			r, err := runMatrix(cmd.Context(), network, wildcard, specific, &f, e)
			if err != nil {
				return err
			}
			if f.format == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return writeMatrixText(e.stdout, r)
		}),
	}
	cmd.Flags().StringVar(&f.format, "format", "text", "output: text (tables) or json")
	cmd.Flags().IntVar(&f.family, "family", 4, "IP version: 4 or 6")
	cmd.Flags().StringVar(&f.specific, "specific", "", "the specific address to bind (default 127.0.0.1, or ::1)")
	cmd.Flags().IntVar(&f.otherUID, "other-uid", 65534, "uid (and gid) of the other user, as root")
	cmd.Flags().BoolVar(&f.noOther, "same-user-only", false, "skip the table of binds by another user")
	return cmd
}

// binder makes the second bind of a cell and reports its outcome.
type binder func(ctx context.Context, s bindSpec, port uint16) (outcome, detail string)

func runMatrix(ctx context.Context, network string, wildcard, specific netip.Addr, f *matrixFlags, e *env) (*matrixReport, error) {
	r := &matrixReport{OS: runtime.GOOS, Arch: runtime.GOARCH, Network: network,
		Wildcard: wildcard.String(), Specific: specific.String(), Modes: modeOptions(runtime.GOOS)}
	addrOf := func(s bindSpec) netip.Addr {
		if s.Addr == "wildcard" {
			return wildcard
		}
		return specific
	}
	same := func(ctx context.Context, s bindSpec, port uint16) (string, string) {
		c, err := bindSocket(ctx, network, s.Mode, addrOf(s), port)
		if err == nil {
			c.Close()
		}
		return outcomeOf(err)
	}
	me := os.Geteuid()
	t, err := matrixRun(ctx, network, wildcard, addrOf, same)
	if err != nil {
		return nil, err
	}
	t.Title = "Both binds by the same user (" + matrixUser(me) + ")"
	t.SameUser, t.FirstUID, t.SecondUID = true, me, me
	r.Tables = append(r.Tables, *t)
	if f.noOther {
		return r, nil
	}
	other := matrixTable{Title: "The second bind by another user (" + matrixUser(f.otherUID) + ")", FirstUID: me, SecondUID: f.otherUID}
	child, err := startBindChild(network, wildcard, specific, f.otherUID, e.log)
	if err != nil {
		other.Skipped = err.Error()
		r.Tables = append(r.Tables, other)
		return r, nil
	}
	defer child.close()
	t, err = matrixRun(ctx, network, wildcard, addrOf, child.bind)
	if err != nil {
		return nil, err
	}
	other.Cells = t.Cells
	r.Tables = append(r.Tables, other)
	return r, nil
}

// matrixUser names a user by uid in a table's title: "uid 1000", or "this
// user" where the OS has no uid (os.Geteuid returns -1 on Windows).
func matrixUser(uid int) string {
	if uid < 0 {
		return "this user"
	}
	return fmt.Sprintf("uid %d", uid)
}

// matrixRun fills a table: for each cell, on a fresh port, the first bind
// in this process, the second by second.
func matrixRun(ctx context.Context, network string, wildcard netip.Addr, addrOf func(bindSpec) netip.Addr, second binder) (*matrixTable, error) {
	t := &matrixTable{}
	for _, fm := range matrixModes {
		for _, fa := range matrixAddrs {
			for _, sm := range matrixModes {
				for _, sa := range matrixAddrs {
					first, sec := bindSpec{fm, fa}, bindSpec{sm, sa}
					cell := matrixCell{First: first, Second: sec}
					port, err := freeUDPPort(network, wildcard)
					if err != nil {
						return nil, err
					}
					c, err := bindSocket(ctx, network, fm, addrOf(first), port)
					if err != nil {
						// The mode does not exist here (or the port was taken
						// between the probe and the bind): no second bind.
						cell.Outcome, cell.Error = outcomeOf(err)
						if cell.Outcome != outcomeNA {
							cell.Outcome, cell.Error = outcomeError, "first bind: "+cell.Error
						}
					} else {
						cell.Outcome, cell.Error = second(ctx, sec, port)
						c.Close()
					}
					t.Cells = append(t.Cells, cell)
				}
			}
		}
	}
	return t, nil
}

// freeUDPPort returns a port that no UDP socket of the family holds now.
func freeUDPPort(network string, wildcard netip.Addr) (uint16, error) {
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(wildcard, 0)))
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Port(), nil
}

// bindSocket binds a UDP socket as mode says: "default" as the standard
// library does (no reuse option), the others through mcast.Listen with
// that share mode.
func bindSocket(ctx context.Context, network, mode string, addr netip.Addr, port uint16) (io.Closer, error) {
	ap := netip.AddrPortFrom(addr, port).String()
	if mode == "default" {
		var lc net.ListenConfig
		return lc.ListenPacket(ctx, network, ap)
	}
	share, err := mcast.ParseShare(mode)
	if err != nil {
		return nil, err
	}
	return mcast.Listen(ctx, network, ap, &mcast.Config{Share: share, ReadBuffer: -1})
}

// outcomeOf names the outcome of a bind.
func outcomeOf(err error) (outcome, detail string) {
	switch {
	case err == nil:
		return outcomeSuccess, ""
	case errors.Is(err, mcast.ErrNotSupported):
		return outcomeNA, err.Error()
	case errors.Is(err, mcast.ErrPortInUse), sockerr.Is(err, sockerr.AddrInUse):
		return outcomeInUse, err.Error()
	case errors.Is(err, mcast.ErrAccessDenied), sockerr.Is(err, sockerr.Access):
		return outcomeAccess, err.Error()
	}
	return outcomeError, err.Error()
}

func writeMatrixText(w io.Writer, r *matrixReport) error {
	fam := "IPv4"
	if r.Network == "udp6" {
		fam = "IPv6"
	}
	fmt.Fprintf(w, "Two UDP binds on one port: %s/%s, %s; wildcard is %s, specific is %s.\n", r.OS, r.Arch, fam, r.Wildcard, r.Specific)
	fmt.Fprintf(w, "A cell is the second bind's outcome: Success, INUSE (address in use) or ACCESS (access denied); n/a where this OS has no such mode.\n")
	fmt.Fprintf(w, "Modes: ")
	for i, m := range matrixModes {
		if i > 0 {
			fmt.Fprint(w, "; ")
		}
		fmt.Fprintf(w, "%s = %s", m, r.Modes[m])
	}
	fmt.Fprint(w, ".\n")
	for _, t := range r.Tables {
		fmt.Fprintf(w, "\n%s:\n\n", t.Title)
		if t.Skipped != "" {
			fmt.Fprintf(w, "  skipped: %s\n", t.Skipped)
			continue
		}
		var b strings.Builder
		tw := newTable(&b, 0)
		fmt.Fprint(tw, "\t")
		for _, m := range matrixModes {
			fmt.Fprintf(tw, "\t%s\t", m)
		}
		fmt.Fprintln(tw)
		fmt.Fprint(tw, "First bind\t")
		for range matrixModes {
			for _, a := range matrixAddrs {
				fmt.Fprintf(tw, "\t%s", a)
			}
		}
		fmt.Fprintln(tw)
		for _, fm := range matrixModes {
			for i, fa := range matrixAddrs {
				label := fm
				if i > 0 {
					label = ""
				}
				fmt.Fprintf(tw, "%s\t%s", label, fa)
				for _, sm := range matrixModes {
					for _, sa := range matrixAddrs {
						fmt.Fprintf(tw, "\t%s", t.cell(bindSpec{fm, fa}, bindSpec{sm, sa}).Outcome)
					}
				}
				fmt.Fprintln(tw)
			}
		}
		tw.Flush()
		// "Second bind" spans the columns of the second bind, as in
		// Microsoft's tables: it starts above the first of them.
		table := b.String()
		col := strings.Index(table, matrixModes[0])
		fmt.Fprintf(w, "%*sSecond bind\n%s", col, "", table)
		for _, c := range t.Cells {
			if c.Outcome == outcomeError {
				fmt.Fprintf(w, "  %s %s then %s %s: %s\n", c.First.Mode, c.First.Addr, c.Second.Mode, c.Second.Addr, c.Error)
			}
		}
	}
	return nil
}

// bindChild is a process of another user that makes second binds.
type bindChild struct {
	stop func()
	in   io.Writer
	out  *bufio.Reader
}

func (c *bindChild) bind(_ context.Context, s bindSpec, port uint16) (string, string) {
	if _, err := fmt.Fprintf(c.in, "%s %s %d\n", s.Mode, s.Addr, port); err != nil {
		return outcomeError, "child: " + err.Error()
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return outcomeError, "child: " + err.Error()
	}
	outcome, detail, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
	return outcome, detail
}

func (c *bindChild) close() { c.stop() }

// newMatrixChildCmd is the hidden subcommand that the other user's child
// runs: it reads "MODE ADDR PORT" lines and answers each with the outcome
// of a bind (closed at once) and the error, tab-separated.
func newMatrixChildCmd(e *env) *cobra.Command {
	var network, wildcard, specific string
	cmd := &cobra.Command{
		Use:    "__matrix-bind",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			addrs := map[string]string{"wildcard": wildcard, "specific": specific}
			sc := bufio.NewScanner(e.stdin)
			for sc.Scan() {
				fs := strings.Fields(sc.Text())
				if len(fs) != 3 {
					return fmt.Errorf("bad request %q", sc.Text())
				}
				port, err := strconv.ParseUint(fs[2], 10, 16)
				a, err2 := netip.ParseAddr(addrs[fs[1]])
				if err != nil || err2 != nil {
					return fmt.Errorf("bad request %q", sc.Text())
				}
				c, err := bindSocket(cmd.Context(), network, fs[0], a, uint16(port))
				if err == nil {
					c.Close()
				}
				o, d := outcomeOf(err)
				fmt.Fprintf(e.stdout, "%s\t%s\n", o, strings.ReplaceAll(d, "\n", " "))
			}
			return sc.Err()
		}),
	}
	cmd.Flags().StringVar(&network, "network", "udp4", "")
	cmd.Flags().StringVar(&wildcard, "wildcard", "0.0.0.0", "")
	cmd.Flags().StringVar(&specific, "specific", "127.0.0.1", "")
	return cmd
}
