package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// The Launcher gives the runner the machine each node runs on, so that a
// node's faults act on its own host: core/remote implements faults'
// interface (faults.Machines), faults knows nothing of SSH (see
// faults.Machine for why the dependency points this way).
var _ faults.Machines = (*Launcher)(nil)

// Machine is node id's host as its faults act on it: every operation one
// exec of raftcmp's helper there (`raftcmp host machine-info|cgroup|
// device-of|hog`), which runs the same faults/cgroup code a local run
// does, with the host's own pids.
func (l *Launcher) Machine(id uint64) faults.Machine {
	return &hostMachine{l: l, s: l.nodeSite(id)}
}

// CheckFaults refuses, before anything starts, every host a node uses on
// which a fault of specs cannot run (cgroups unusable, a controller
// missing): one *HostError a host, joined on one line.
func (l *Launcher) CheckFaults(ctx context.Context, specs []faultspec.Spec) error {
	if !faults.NeedsCgroups(specs) {
		return nil
	}
	return l.CheckControllers(ctx, faults.CgroupNeeds(specs))
}

// CheckControllers is CheckFaults for the controllers of needs (as
// faults.CgroupNeeds returns them).
func (l *Launcher) CheckControllers(ctx context.Context, needs map[string][]string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return l.eachUsed(func(s *site) error {
		err := faults.CheckControllers(ctx, &hostMachine{l: l, s: s}, needs)
		var he *HostError
		if err == nil || errors.As(err, &he) { // a failed look names the host already
			return err
		}
		return &HostError{Host: s.host.Name, SSH: s.host.SSH, Reason: oneLine(err.Error()), Err: err}
	})
}

// BootIDs returns the kernel boot id of every host a node runs on, by
// host name ("" where the host could not say): hosts with the same one
// are one machine.
func (l *Launcher) BootIDs(ctx context.Context) (map[string]string, error) {
	var mu sync.Mutex
	ids := map[string]string{}
	err := l.eachUsed(func(s *site) error {
		info, err := (&hostMachine{l: l, s: s}).Info(ctx, nil)
		if err != nil {
			return err
		}
		mu.Lock()
		ids[s.host.Name] = info.BootID
		mu.Unlock()
		return nil
	})
	return ids, err
}

// hostMachine is one host as a faults.Machine.
type hostMachine struct {
	l *Launcher
	s *site
}

func (m *hostMachine) Name() string { return "host " + m.s.host.Name }

// run runs one helper operation, its failure naming the host.
func (m *hostMachine) run(ctx context.Context, what string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	out, err := m.l.helperRun(ctx, m.s, args...)
	if err != nil {
		return nil, hostError(m.s.host, err, "%s", what)
	}
	return out, nil
}

func (m *hostMachine) Info(ctx context.Context, needs []string) (faults.MachineInfo, error) {
	var info faults.MachineInfo
	out, err := m.run(ctx, "look at its cgroups", append([]string{opMachineInfo}, needs...)...)
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return info, hostError(m.s.host, err, "look at its cgroups: %q", out)
	}
	return info, nil
}

func (m *hostMachine) NewCgroup(ctx context.Context, name string) (faults.Cgroup, error) {
	if _, err := m.run(ctx, "create cgroup "+name, opCgroup, "create", name, m.cgroupRecords()); err != nil {
		return nil, err
	}
	return &hostCgroup{m: m, name: name}, nil
}

// cgroupRecords is the host's directory of raftcmp's cgroup marks.
func (m *hostMachine) cgroupRecords() string { return path.Join(m.s.host.Dir, cgroupsSubdir) }

// hostPath is where the node whose data directory on this machine is
// local keeps its data on the host.
func (m *hostMachine) hostPath(local string) string { return remoteDataDir(m.s.host, local) }

func (m *hostMachine) DeviceOf(ctx context.Context, local string) (uint64, uint64, error) {
	p := m.hostPath(local)
	out, err := m.run(ctx, "find the device of "+p, opDeviceOf, p)
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(out))
	if len(f) == 2 {
		major, err1 := strconv.ParseUint(f[0], 10, 64)
		minor, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 == nil && err2 == nil {
			return major, minor, nil
		}
	}
	return 0, 0, hostError(m.s.host, nil, "find the device of %s: the helper said %q", p, out)
}

// StartHog starts `raftcmp host hog` over a session of its own, kept
// alive by a heartbeat like a node's: the hog dies with the session.
func (m *hostMachine) StartHog(ctx context.Context, spec faults.HogSpec) (faults.Hog, error) {
	c, err := m.l.connect(ctx, m.s)
	if err != nil {
		return nil, err
	}
	m.s.mu.Lock()
	helper := m.s.helper
	m.s.mu.Unlock()
	args := []string{helper, HelperCommand, opHog, "--silence", heartbeatSilence.String()}
	if spec.Cgroup != nil {
		args = append(args, "--cgroup", spec.Cgroup.Name())
	}
	if spec.Kind == faults.HogDisk {
		args = append(args, "--dir", m.hostPath(spec.Dir), "--block", strconv.FormatInt(spec.Block, 10))
	}
	r := newSessionRunner(c, shellQuote(append(args, spec.Kind)...), m.s.host.Name+": "+spec.Kind+" hog", "")
	sctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := r.Start(sctx); err != nil {
		return nil, hostError(m.s.host, err, "start %s hog", spec.Kind)
	}
	return &hostHog{m: m, r: r}, nil
}

// hostHog is a hog on a host: its helper's session.
type hostHog struct {
	m *hostMachine
	r *sessionRunner
}

func (h *hostHog) WriteBytes() (uint64, error) {
	out, err := h.m.run(context.Background(), "read the hog's usage", opUsage, strconv.Itoa(h.r.pid), strconv.FormatUint(h.r.start, 10))
	if err != nil {
		return 0, err
	}
	var u cluster.Usage
	if err := json.Unmarshal(out, &u); err != nil {
		return 0, hostError(h.m.s.host, err, "read the hog's usage: %q", out)
	}
	return u.WriteBytes, nil
}

// Stop closes the session's stdin, on which the helper kills and reaps
// the hog, and waits for the session to end.
func (h *hostHog) Stop() error {
	if err := h.r.Kill(context.Background()); err != nil {
		return hostError(h.m.s.host, err, "stop hog")
	}
	return nil
}

// hostCgroup is a raftcmp cgroup on a host; each method is one helper
// exec (bounded by opTimeout, as the local cgroup.Group's methods take no
// context either).
type hostCgroup struct {
	m    *hostMachine
	name string
}

var _ faults.Cgroup = (*hostCgroup)(nil)

func (g *hostCgroup) Name() string { return g.name }

// op runs `cgroup OP NAME ARGS...` on the host.
func (g *hostCgroup) op(op string, args ...string) ([]byte, error) {
	return g.m.run(context.Background(), fmt.Sprintf("cgroup %s: %s", g.name, op), append([]string{opCgroup, op, g.name}, args...)...)
}

// do is op without output.
func (g *hostCgroup) do(op string, args ...string) error {
	_, err := g.op(op, args...)
	return err
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

func (g *hostCgroup) AddProcess(pid int) error { return g.do("add", strconv.Itoa(pid)) }
func (g *hostCgroup) SetCPUQuota(quota, period time.Duration) error {
	return g.do("cpu-quota", quota.String(), period.String())
}
func (g *hostCgroup) ClearCPUQuota() error             { return g.do("clear-cpu-quota") }
func (g *hostCgroup) SetCPUShares(shares uint64) error { return g.do("cpu-shares", u64(shares)) }
func (g *hostCgroup) SetCPUs(cpus string) error        { return g.do("cpus", cpus) }
func (g *hostCgroup) SetMemoryLimit(limit int64, oomKillDisable bool) error {
	return g.do("memory", strconv.FormatInt(limit, 10), strconv.FormatBool(oomKillDisable))
}
func (g *hostCgroup) ClearMemoryLimit() error { return g.do("clear-memory") }
func (g *hostCgroup) SetIOLimit(major, minor, rbps, wbps, riops, wiops uint64) error {
	return g.do("io", u64(major), u64(minor), u64(rbps), u64(wbps), u64(riops), u64(wiops))
}
func (g *hostCgroup) ClearIOLimit(major, minor uint64) error {
	return g.do("clear-io", u64(major), u64(minor))
}
func (g *hostCgroup) Freeze() error { return g.do("freeze") }
func (g *hostCgroup) Thaw() error   { return g.do("thaw") }
func (g *hostCgroup) Delete() error { return g.do("delete", g.m.cgroupRecords()) }

func (g *hostCgroup) Stats() (cgroup.Stats, error) {
	var st cgroup.Stats
	out, err := g.op("stats")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, hostError(g.m.s.host, err, "cgroup %s: stats: %q", g.name, out)
	}
	return st, nil
}
