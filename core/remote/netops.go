package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/vishvananda/netns"

	"github.com/raftcmp/raftcmp/faults/netrules"
)

// The helper's network-fault operations (faults/netrules), each run in the
// host's own network namespace (the one its sshd, and so the helper, is
// in). Rules are passed as one JSON argument.
const (
	opNetCheck    = "net-check"    // print netrules.Check's Capabilities as JSON
	opNetApply    = "net-apply"    // net-apply RULES: put the rules in place
	opNetRevert   = "net-revert"   // net-revert RULES: remove what net-apply RULES added
	opNetCounters = "net-counters" // net-counters RULES: print their netrules.Counters as JSON
	opNetCleanup  = "net-cleanup"  // remove every table of raftcmp's and its qdiscs
)

// netCheck prints what network faults the host can run.
func netCheck(args []string) error {
	if len(args) != 0 {
		return errors.New("want no arguments")
	}
	return json.NewEncoder(os.Stdout).Encode(netrules.Check())
}

// withRules opens the host's namespace and runs f on the rules of args[0].
func withRules(args []string, f func(*netrules.Host, netrules.Rules) error) error {
	if len(args) != 1 {
		return errors.New("want one argument: the rules as JSON")
	}
	var r netrules.Rules
	if err := json.Unmarshal([]byte(args[0]), &r); err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	h, err := netrules.Open(netns.None())
	if err != nil {
		return err
	}
	defer h.Close()
	return f(h, r)
}

func netApply(args []string) error {
	return withRules(args, func(h *netrules.Host, r netrules.Rules) error { return h.Apply(r) })
}

func netRevert(args []string) error {
	return withRules(args, func(h *netrules.Host, r netrules.Rules) error { return h.Revert(r) })
}

func netCounters(args []string) error {
	return withRules(args, func(h *netrules.Host, r netrules.Rules) error {
		c, err := h.Counters(r)
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(c)
	})
}

// netCleanup removes what killed runs left and prints the tables removed,
// one a line.
func netCleanup(args []string) error {
	if len(args) != 0 {
		return errors.New("want no arguments")
	}
	h, err := netrules.Open(netns.None())
	if err != nil {
		return err
	}
	defer h.Close()
	names, err := h.Cleanup()
	for _, n := range names {
		fmt.Fprintln(os.Stdout, n)
	}
	return err
}

// NodeHost names the host node id runs on.
func (l *Launcher) NodeHost(id uint64) string { return l.nodeSite(id).host.Name }

// CheckNet refuses, before a run starts, network faults that a host of the
// cluster cannot run: drop (partition, loss), rate (bandwidth) and delay
// say what the run's faults need. The error names each host and its
// reason, on one line.
func (l *Launcher) CheckNet(ctx context.Context, drop, rate, delay bool) error {
	return l.eachUsed(func(s *site) error {
		out, err := l.helperRun(ctx, s, opNetCheck)
		if err != nil {
			return hostError(s.host, err, "check network faults")
		}
		var c netrules.Capabilities
		if err := json.Unmarshal(out, &c); err != nil {
			return hostError(s.host, err, "check network faults: %q", out)
		}
		if reason := c.Need(drop, rate, delay); reason != "" {
			return hostError(s.host, nil, "%s", reason)
		}
		return nil
	})
}

// netOp runs a rules operation on the host named host.
func (l *Launcher) netOp(ctx context.Context, host, op string, r netrules.Rules) ([]byte, error) {
	s := l.siteOf(host)
	if s == nil {
		return nil, fmt.Errorf("no host %q in the hosts file", host)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	out, err := l.helperRun(ctx, s, op, string(b))
	if err != nil {
		return nil, hostError(s.host, err, "%s %s", strings.TrimPrefix(op, "net-"), r.Name)
	}
	return out, nil
}

// ApplyNetRules puts r in place on host (its network namespace).
func (l *Launcher) ApplyNetRules(ctx context.Context, host string, r netrules.Rules) error {
	_, err := l.netOp(ctx, host, opNetApply, r)
	return err
}

// RevertNetRules removes what ApplyNetRules(host, r) added.
func (l *Launcher) RevertNetRules(ctx context.Context, host string, r netrules.Rules) error {
	_, err := l.netOp(ctx, host, opNetRevert, r)
	return err
}

// NetCounters reads r's counters on host.
func (l *Launcher) NetCounters(ctx context.Context, host string, r netrules.Rules) (netrules.Counters, error) {
	out, err := l.netOp(ctx, host, opNetCounters, r)
	if err != nil {
		return netrules.Counters{}, err
	}
	var c netrules.Counters
	if err := json.Unmarshal(out, &c); err != nil {
		return netrules.Counters{}, fmt.Errorf("counters of %s on %s: %q: %w", r.Name, host, out, err)
	}
	return c, nil
}
