package experiment

import (
	"strconv"
	"strings"

	"github.com/raftcmp/raftcmp/core/adapter"
)

const threadsAllowed = "want a count (8), a list (2,4,8) or a range FROM:TO:STEP (2:20:2) of positive integers"

// ParseThreads reads a thread sweep: "8", "2,4,8" or "2:20:2" (from, to
// inclusive, step). The result keeps the order given, without duplicates.
func ParseThreads(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	bad := func() error { return fieldErr("--threads", s, threadsAllowed) }
	if s == "" {
		return nil, bad()
	}
	if strings.Contains(s, ":") {
		parts := strings.Split(s, ":")
		if len(parts) != 3 {
			return nil, bad()
		}
		var v [3]int
		for i, p := range parts {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < 1 {
				return nil, bad()
			}
			v[i] = n
		}
		from, to, step := v[0], v[1], v[2]
		if from > to || (to-from)/step+1 > MaxThreads {
			return nil, fieldErr("--threads", s, "range must run upwards, FROM <= TO")
		}
		var out []int
		for t := from; t <= to; t += step {
			out = append(out, t)
		}
		return out, nil
	}
	var out []int
	seen := map[int]bool{}
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, bad()
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// ParseImpls reads a comma-separated backend list.
func ParseImpls(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ParseOption reads one backend option "impl.key=value" into opts.
func ParseOption(opts map[string]adapter.Options, s string) error {
	kv, value, ok := strings.Cut(s, "=")
	impl, key, ok2 := strings.Cut(kv, ".")
	if !ok || !ok2 || impl == "" || key == "" {
		return fieldErr("--opt", s, "want IMPL.KEY=VALUE, e.g. hashicorp.max_append_entries=128")
	}
	if opts[impl] == nil {
		opts[impl] = adapter.Options{}
	}
	opts[impl][key] = value
	return nil
}

// ParseCPUs reads a CPU list "0,1,1", one per node (--cpus also takes
// auto and none, which the setting reads before this).
func ParseCPUs(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			return nil, fieldErr("--cpus", s, "want auto, none, or one CPU number per node, e.g. 0,1,1")
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseGOMAXPROCS reads --gomaxprocs: "auto" (0: each node its share of
// the CPUs, see Spec.NodeGOMAXPROCS), "go" (-1: Go's own default, every
// CPU) or a positive count.
func ParseGOMAXPROCS(s string) (int, error) {
	switch s {
	case "auto", "":
		return 0, nil
	case "go":
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fieldErr("--gomaxprocs", s, "must be auto, go, or a positive count")
	}
	return n, nil
}
