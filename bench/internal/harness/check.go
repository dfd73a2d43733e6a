//go:build linux

package harness

import "fmt"

// Check returns the sanity problems of a report, whatever the machine's
// speed: a failed run; in the rate phase, a socket that missed a datagram
// (the quick mode's rate is low enough for every receiver); in any run,
// counts that do not add up (received + drops + truncated != sent for a
// socket; for a hub's consumer, received + overrun != what the hub wrote, or the kernel's drops per /proc/net/udp differing from those the
// receivers read); and allocations per datagram on the sharecast and
// mcast paths, in processes that received at least steadyMin datagrams.
// It never judges a timing.
func Check(r *Report) []string {
	var out []string
	for i := range r.Runs {
		run := &r.Runs[i]
		id := fmt.Sprintf("%s %dB %s N=%d %s #%d", run.Phase, run.Size, run.Mode, run.N, run.Kind, run.Rep)
		if run.Err != "" {
			out = append(out, fmt.Sprintf("%s: %s", id, run.Err))
			continue
		}
		if run.Sent == 0 {
			out = append(out, id+": nothing sent")
		}
		if run.Phase == PhaseRate && r.Config.Quick && !run.Lossless() {
			out = append(out, fmt.Sprintf("%s: delivery ratio %.6f at %.0f/s, want 1", id, run.MinRatio(), run.TargetRate))
		}
		if u := run.Unaccounted(); u != 0 && run.Drained {
			out = append(out, fmt.Sprintf("%s: %d datagrams unaccounted for (sent %d to %d sockets)", id, u, run.Sent, run.N))
		}
		var drops uint64
		for _, s := range run.Sockets {
			drops += s.Drops
		}
		if run.Hub != nil {
			drops = run.Hub.Drops // the consumers' are overruns, not the kernel's
		}
		if drops != run.ProcDrops {
			out = append(out, fmt.Sprintf("%s: receivers counted %d kernel drops, /proc/net/udp %d", id, drops, run.ProcDrops))
		}
		if a, ok := run.SteadyAllocs(steadyMin); ok && (run.Kind == KindSharecast || run.Kind == KindSharecastQueued || run.Kind == KindMcast) && a > 0.01 {
			out = append(out, fmt.Sprintf("%s: %.3f allocations per datagram in a process, want 0", id, a))
		}
	}
	return out
}

// steadyMin is how many datagrams a process must receive for its
// allocations per datagram to be judged: its one-time allocations (pools
// growing to their working size, a few hundred objects) then weigh under
// 0.01 per datagram.
const steadyMin = 100_000
