package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/sharecast/sharecast/group"
	"github.com/sharecast/sharecast/mcast"
)

// Status of a doctor check.
const (
	statusOK      = "ok"
	statusWarning = "warning"
	statusProblem = "problem"
)

// DoctorCheck is one line of `sharecast doctor`: one check of one subject.
// It is the element of DoctorReport.Checks, the JSON schema that
// --format json prints.
type DoctorCheck struct {
	// Check names the check: interface, route, rp_filter, firewall,
	// memberships, sources, rcvbuf, querier, port or live.
	Check string `json:"check"`
	// Status is ok, warning or problem.
	Status string `json:"status"`
	// Subject is what was checked: a group spec, an interface, a port, or
	// "host" for a host-wide setting.
	Subject string `json:"subject"`
	// Seen says what doctor saw, with the numbers.
	Seen string `json:"seen"`
	// Fix is the command or setting that removes the warning or problem;
	// empty when the status is ok.
	Fix string `json:"fix,omitempty"`
}

// DoctorReport is what `sharecast doctor --format json` prints: the groups
// checked and one check a line, in the order of the text output.
type DoctorReport struct {
	// Groups are the group specs checked: those asked, or those joined on
	// this host when none was asked.
	Groups []string `json:"groups"`
	// Checks are the checks, in order.
	Checks []DoctorCheck `json:"checks"`
	// Problems and Warnings count the checks of each status; doctor exits
	// 1 when Problems is not 0.
	Problems int `json:"problems"`
	Warnings int `json:"warnings"`
}

// add appends a check.
func (r *DoctorReport) add(check, status, subject, seen, fix string) {
	r.Checks = append(r.Checks, DoctorCheck{Check: check, Status: status, Subject: subject, Seen: seen, Fix: fix})
	switch status {
	case statusProblem:
		r.Problems++
	case statusWarning:
		r.Warnings++
	}
}

// doctorOptions are doctor's command line.
type doctorOptions struct {
	specs  []group.Spec
	iface  string
	rcvbuf int
	listen time.Duration
}

func newDoctorCmd(e *env) *cobra.Command {
	var (
		format string
		opt    doctorOptions
	)
	opt.rcvbuf = mcast.DefaultReadBuffer
	cmd := &cobra.Command{
		Use:   "doctor [GROUP...]",
		Short: "Say why a multicast feed does not arrive, and what to change",
		Long: `doctor checks what stands between a multicast feed and its receivers on
this host, for each GROUP (or, with none, for each group that sockets on
this host have joined), and prints one line per check: ok, warning or
problem, what it saw (with the numbers), and the command or setting that
fixes it.

Checks:
  interface    the interface exists, is up, has the MULTICAST flag and an
               address of the group's family; without -i or %IFACE, the one
               the kernel picks by its routing table, and a warning when
               several could carry the group
  route        a route covers the group (224.0.0.0/4, ff00::/8), and where
               a send would go out
  rp_filter    strict reverse-path filtering (net.ipv4.conf.{all,IFACE}.rp_filter,
               the larger of the two) with a source whose reverse route is
               through another interface: the kernel drops its datagrams
               (IPReversePathFilter in /proc/net/netstat counts them)
  firewall     nftables rules (nft -j list ruleset) that drop or reject UDP
               to the port or the group, by table, chain and handle
  memberships  the IPv4 groups on one socket against net.ipv4.igmp_max_memberships
  sources      the sources of one group against net.ipv4.igmp_max_msf
  rcvbuf       the receive buffer asked (--rcvbuf) against net.core.rmem_max
  querier      on a bridge (or a port of one) with multicast snooping, an
               IGMP/MLD querier: without one, the bridge prunes the group
               after the membership timeout (about 260 s)
  port         the sockets on the port (as 'sharecast ports'): sockets of
               more than one user, and a socket whose receive queue holds
               data while it drops (a listener that does not read)
  live         with --listen: joins the groups for that long and counts
               datagrams, sources and the kernel's UDP errors

Exit status: 0 when no check is a problem (warnings allowed), 1 otherwise,
2 for a usage error. Linux only.

JSON (--format json): one object,
  {"groups": [spec...], "checks": [{"check", "status", "subject", "seen",
   "fix"}...], "problems": N, "warnings": N}
with status "ok", "warning" or "problem", and "fix" left out when ok.`,
		Example: `  sharecast doctor 239.1.2.3:5000
  sharecast doctor 232.1.1.1:5000@10.0.0.1 -i eth0 --rcvbuf 64MiB
  sharecast doctor 239.1.2.3:5000 --listen 10s --format json
  sharecast doctor                 # every group joined on this host`,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return usagef("invalid argument %q for \"--format\" flag: want text or json", format)
			}
			for _, a := range args {
				sp, err := group.ParseSpec(a)
				if err != nil {
					return &usageError{err}
				}
				opt.specs = append(opt.specs, sp)
			}
			if opt.listen < 0 {
				return usagef("invalid argument %v for \"--listen\" flag: want a duration", opt.listen)
			}
			r, err := runDoctor(cmd, e, opt)
			if err != nil {
				return err
			}
			if err := writeDoctor(e.stdout, r, format); err != nil {
				return err
			}
			if r.Problems > 0 {
				return &exitError{ExitFailure}
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&opt.iface, "iface", "i", "", "the interface to check the groups on (name, index or address); a spec's own %IFACE wins; default: the kernel's choice by its routing table")
	f.Var(&sizeValue{v: &opt.rcvbuf, max: mcast.MaxReadBuffer, why: " (1 GiB - 1: the most a socket takes)"}, "rcvbuf", "the receive buffer that the receivers ask for, checked against net.core.rmem_max")
	f.DurationVar(&opt.listen, "listen", 0, "join the groups for this long and report what arrives (0: do not listen)")
	f.StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// writeDoctor prints the report: a line per check, or the JSON object.
func writeDoctor(w io.Writer, r *DoctorReport, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	for _, c := range r.Checks {
		line := fmt.Sprintf("%-7s %-11s %s: %s", c.Status, c.Check, printable(c.Subject), printable(c.Seen))
		if c.Fix != "" {
			line += "; fix: " + printable(c.Fix)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%s, %s\n", plural(uint64(r.Problems), "problem"), plural(uint64(r.Warnings), "warning"))
	return err
}
