package faultspec

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind describes one fault kind: what it does, whom it targets by default,
// and its parameters with their defaults. Its mechanism (how it acts, what
// it needs set up, what it measures) is in package faults, in a file of
// its own that registers it under the same name.
type Kind struct {
	Name string
	// Doc says what the fault does, for reports and docs.
	Doc string
	// DefaultTarget applies when the spec names none.
	DefaultTarget Role
	// SingleTarget kinds act on one node only.
	SingleTarget bool
	// FollowerOnly kinds act on a follower: target follower or node:ID
	// (which must be a follower when the fault starts), never leader.
	FollowerOnly bool
	// OnDisk kinds act on the block device under the target's data dir:
	// they need storage disk (tmpfs and memory keep the log on none).
	OnDisk bool
	Params []Param
}

// Param is one parameter of a kind.
type Param struct {
	Name, Default, Doc string
	// Type is one of "percent", "duration", "bytes", "int", "bool",
	// "fraction".
	Type string
}

func (k Kind) param(name string) (Param, bool) {
	i := slices.IndexFunc(k.Params, func(p Param) bool { return p.Name == name })
	if i < 0 {
		return Param{}, false
	}
	return k.Params[i], true
}

func (k Kind) paramNames() string {
	var names []string
	for _, p := range k.Params {
		names = append(names, p.Name)
	}
	names = append(names, "at", "for")
	return strings.Join(names, ", ")
}

func (p Param) check(v string) error {
	var err error
	switch p.Type {
	case "percent":
		_, err = ParsePercent(v)
	case "duration":
		var d time.Duration
		if d, err = time.ParseDuration(v); err == nil && d < 0 {
			err = errors.New("must not be negative")
		}
	case "bytes":
		_, err = ParseBytes(v)
	case "int":
		var n int64
		if n, err = strconv.ParseInt(v, 10, 64); err == nil && n < 0 {
			err = errors.New("must not be negative")
		}
	case "bool":
		_, err = strconv.ParseBool(v)
	case "fraction":
		_, err = ParsePercent(v)
	}
	if err != nil {
		return fmt.Errorf("%s (%s)", err, p.Doc)
	}
	return nil
}

// ParsePercent reads "5%" or "0.05" as a fraction in (0, 1].
func ParsePercent(v string) (float64, error) {
	s, pct := strings.CutSuffix(v, "%")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errors.New("want a percentage such as 5% or a fraction such as 0.05")
	}
	if pct {
		f /= 100
	}
	if f <= 0 || f > 1 {
		return 0, errors.New("must be above 0% and at most 100%")
	}
	return f, nil
}

// ParseBytes reads a size: 512, 64k, 64KiB, 1MB, 2GiB (powers of 1024).
func ParseBytes(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10}, {"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}, {"b", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive size such as 64MiB or 512k")
	}
	return n * mult, nil
}

// Kinds is every fault kind raftcmp knows, by name. A Param is written
// {Name, Default, Doc, Type}.
var Kinds = byName([]Kind{
	{Name: KindNone, Doc: "no fault: the baseline"},
	{Name: "cpu-slow", Doc: "hold the target's CPU to a quota of each period (CFS bandwidth control)", DefaultTarget: RoleFollower, Params: []Param{
		{"quota", "5%", "share of one CPU per period, e.g. 5%", "percent"},
		{"period", "1s", "CFS period, 1ms to 1s; the original experiment used 1s", "duration"}}},
	{Name: "cpu-contention", Doc: "a busy loop competes for the target's CPU, the target at lower cpu shares", DefaultTarget: RoleFollower, SingleTarget: true, Params: []Param{
		{"shares", "64", "the target's cpu.shares against the busy loop's 1024", "int"},
		{"cpu", "0", "the CPU both are confined to", "int"}}},
	{Name: "memory", Doc: "limit the target's memory; with oom_kill=false the node stalls at the limit instead of dying", DefaultTarget: RoleFollower, Params: []Param{
		{"limit", "64MiB", "memory limit, e.g. 64MiB", "bytes"},
		{"oom_kill", "true", "let the kernel kill the node at the limit", "bool"}}},
	{Name: "disk-slow", Doc: "throttle the target's I/O on the device holding its data dir", DefaultTarget: RoleFollower, OnDisk: true, Params: []Param{
		{"write_iops", "100", "write operations per second, 0 = no limit", "int"},
		{"write_bps", "0", "write bytes per second, 0 = no limit", "int"},
		{"read_iops", "0", "read operations per second, 0 = no limit", "int"},
		{"read_bps", "0", "read bytes per second, 0 = no limit", "int"}}},
	{Name: "disk-contention", Doc: "a competing writer does write+fdatasync on the device holding the target's data dir", DefaultTarget: RoleFollower, SingleTarget: true, OnDisk: true, Params: []Param{
		{"block", "4KiB", "bytes per write", "bytes"},
		{"writers", "1", "competing writers", "int"}}},
	{Name: "pause", Doc: "freeze every thread of the target (cgroup freezer), then thaw it", DefaultTarget: RoleFollower},
	{Name: "kill", Doc: "SIGKILL the target; optionally restart it on its data and measure recovery", DefaultTarget: RoleFollower, SingleTarget: true, Params: []Param{
		{"restart_after", "0s", "restart this long after the kill; 0 = stay down", "duration"}}},
	{Name: "net-delay", Doc: "add delay to every link of the target (proxied)", DefaultTarget: RoleFollower, Params: []Param{
		{"delay", "10ms", "added to each round trip between the target and a peer", "duration"},
		{"jitter", "0s", "random variation of the delay", "duration"}}},
	{Name: "net-loss", Doc: "lose traffic on the target's links (emulated at the proxy, see docs/faults.md)", DefaultTarget: RoleFollower, Params: []Param{
		{"loss", "1%", "fraction lost, e.g. 1%", "fraction"}}},
	{Name: "net-bandwidth", Doc: "cap the bandwidth of every link of the target (proxied)", DefaultTarget: RoleFollower, Params: []Param{
		{"rate", "1MiB", "bytes per second per link and direction", "bytes"}}},
	{Name: "partition", Doc: "cut the target off from every peer (proxied)", DefaultTarget: RoleFollower},
	{Name: "reconfigure", Doc: "under load, remove the target follower from the membership through the leader, stop it, start a fresh node (new id, empty data dir, new address) and add it through the leader, each with the library's own API; measures each step, the new node's catch-up and the throughput dip", DefaultTarget: RoleFollower, SingleTarget: true, FollowerOnly: true, Params: []Param{
		{"baseline", "1s", "throughput is sampled this long before the removal starts, as the reference for the dip", "duration"}}},
})

// byName indexes kinds by name.
func byName(kinds []Kind) map[string]Kind {
	m := make(map[string]Kind, len(kinds))
	for _, k := range kinds {
		m[k.Name] = k
	}
	return m
}

// KindNames lists the kinds in name order.
func KindNames() []string {
	var names []string
	for n := range Kinds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
