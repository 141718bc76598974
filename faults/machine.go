package faults

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// Machine is what a fault needs on the machine a node runs on: cgroups to
// make and change, a competing load to start, the block device of a
// directory, a look at the machine. The fault kinds are written once
// against it; Local is this machine, and core/remote implements it for a
// host reached over SSH (each call one exec of raftcmp's helper there,
// which runs the same faults/cgroup code with the host's own pids).
//
// Dependencies point one way: core/remote implements this interface
// (importing faults) and the runner wires it in through Machines, so that
// faults knows nothing of SSH and every fault kind stays free of where its
// node runs; faults importing core/remote instead would pull SSH and the
// launcher into every user of faults for the sake of one implementation.
type Machine interface {
	// Name names the machine in errors: "this machine", or the host's name.
	Name() string
	// Info says what the machine offers for needs (cgroup.Controller*
	// names): whether groups can be made at all, which controllers are
	// missing, how many CPUs it has.
	Info(ctx context.Context, needs []string) (MachineInfo, error)
	// NewCgroup creates the group name (cgroup.Manager.Create's rules).
	NewCgroup(ctx context.Context, name string) (Cgroup, error)
	// StartHog starts a competing load on the machine, which runs until
	// stopped (and dies with raftcmp, whatever ends it).
	StartHog(ctx context.Context, spec HogSpec) (Hog, error)
	// DeviceOf is the block device holding path on the machine
	// (cgroup.DeviceOf). path, like HogSpec.Dir, is a node's data
	// directory as the cluster names it (cluster.Member.DataDir); the
	// machine maps it to where the node keeps its data there.
	DeviceOf(ctx context.Context, path string) (major, minor uint64, err error)
}

// MachineInfo is what Machine.Info found.
type MachineInfo struct {
	// Unusable says why no cgroup can be made there (not root and no
	// delegated cgroup, no cgroup file system); "" if they can.
	Unusable string `json:"unusable,omitempty"`
	// Missing maps each needed controller the machine lacks to the name
	// its cgroup version gives it ("io" -> "blkio" on v1).
	Missing map[string]string `json:"missing,omitempty"`
	// CPUs is the number of CPUs of the machine.
	CPUs int `json:"cpus"`
	// BootID is the kernel's boot id (/proc/sys/kernel/random/boot_id):
	// hosts that report the same one are one machine (namespaces or
	// containers on one kernel), whose nodes share its CPUs and disk.
	BootID string `json:"boot_id,omitempty"`
}

// Cgroup is one group on a Machine, with the methods of cgroup.Group that
// faults use (a *cgroup.Group is one). Its methods take no context, like
// cgroup.Group's: a remote implementation bounds each call itself.
type Cgroup interface {
	Name() string
	AddProcess(pid int) error
	SetCPUQuota(quota, period time.Duration) error
	ClearCPUQuota() error
	SetCPUShares(shares uint64) error
	SetCPUs(cpus string) error
	SetMemoryLimit(limit int64, oomKillDisable bool) error
	ClearMemoryLimit() error
	SetIOLimit(major, minor uint64, readBPS, writeBPS, readIOPS, writeIOPS uint64) error
	ClearIOLimit(major, minor uint64) error
	Freeze() error
	Thaw() error
	Stats() (cgroup.Stats, error)
	Delete() error
}

var _ Cgroup = (*cgroup.Group)(nil)

// HogSpec is a competing load: a busy loop ("cpu") or a writer that
// writes and fdatasyncs Block-byte records to a file in Dir ("disk").
type HogSpec struct {
	Kind  string // HogCPU or HogDisk
	Dir   string // HogDisk: the directory of its file
	Block int64  // HogDisk: bytes per record (at least 512)
	// Cgroup, if not nil, is the group (of the same machine) the hog runs
	// in.
	Cgroup Cgroup
}

// The kinds of hog.
const (
	HogCPU  = "cpu"
	HogDisk = "disk"
)

// Hog is a running competing load.
type Hog interface {
	// WriteBytes is what the hog has written to storage so far.
	WriteBytes() (uint64, error)
	// Stop kills the hog and waits until it is gone; safe to repeat.
	Stop() error
}

// Machines gives the Machine each node runs on. A cluster.Launcher that
// runs nodes elsewhere than this machine implements it (core/remote); the
// runner passes it to NewEnv.
type Machines interface {
	Machine(id uint64) Machine
}

// Local is this machine, with cgroups made by m (nil if no fault needs
// cgroups).
func Local(m *cgroup.Manager) Machine { return localMachine{m} }

type localMachine struct{ m *cgroup.Manager }

func (localMachine) Name() string { return "this machine" }

func (l localMachine) Info(_ context.Context, needs []string) (MachineInfo, error) {
	info := MachineInfo{CPUs: runtime.NumCPU()}
	if l.m == nil {
		info.Unusable = "no cgroup manager"
		return info, nil
	}
	if err := l.m.Available(); err != nil {
		info.Unusable = err.Error()
		return info, nil
	}
	var err error
	if info.Missing, err = l.m.Missing(needs...); err != nil {
		return info, fmt.Errorf("look at the cgroups of this machine: %w", err)
	}
	return info, nil
}

func (l localMachine) NewCgroup(_ context.Context, name string) (Cgroup, error) {
	if l.m == nil {
		return nil, errors.New("the cluster was started without cgroups")
	}
	return l.m.Create(name)
}

func (localMachine) StartHog(_ context.Context, spec HogSpec) (Hog, error) {
	cmd, err := StartHog(spec)
	if err != nil {
		return nil, err
	}
	h := &localHog{cmd: cmd}
	if spec.Cgroup != nil {
		if err := spec.Cgroup.AddProcess(cmd.Process.Pid); err != nil {
			h.Stop()
			return nil, err
		}
	}
	return h, nil
}

func (localMachine) DeviceOf(_ context.Context, path string) (uint64, uint64, error) {
	return cgroup.DeviceOf(path)
}

// localHog is a hog process of this machine.
type localHog struct{ cmd *exec.Cmd }

func (h *localHog) WriteBytes() (uint64, error) {
	u, err := cluster.ProcUsage(h.cmd.Process.Pid)
	return u.WriteBytes, err
}

func (h *localHog) Stop() error {
	stopHog(h.cmd)
	return nil
}

// CgroupNeeds maps each controller (cgroup.Controller* names) the kinds
// of specs need on a node's machine to those kinds.
func CgroupNeeds(specs []faultspec.Spec) map[string][]string {
	needs := map[string][]string{}
	for _, s := range specs {
		m := mechanisms[s.Kind]
		if !m.cgroups {
			continue
		}
		for _, c := range m.controllers {
			if !slices.Contains(needs[c], s.Kind) {
				needs[c] = append(needs[c], s.Kind)
			}
		}
	}
	return needs
}

// CheckMachine says, in one line, why the faults of specs cannot run on
// m (cgroups unusable, a controller missing), or returns nil. Run it for
// every machine a node runs on before anything starts.
func CheckMachine(ctx context.Context, m Machine, specs []faultspec.Spec) error {
	if !NeedsCgroups(specs) {
		return nil
	}
	return CheckControllers(ctx, m, CgroupNeeds(specs))
}

// CheckControllers is CheckMachine for needs, a map of controllers to the
// fault kinds that need them (as CgroupNeeds returns).
func CheckControllers(ctx context.Context, m Machine, needs map[string][]string) error {
	names := slices.Sorted(maps.Keys(needs))
	info, err := m.Info(ctx, names)
	if err != nil {
		return err // Info says what it was doing, and where
	}
	if info.Unusable != "" {
		return fmt.Errorf("%s: cgroup faults cannot run there", info.Unusable)
	}
	for _, need := range names {
		if name, ok := info.Missing[need]; ok {
			return fmt.Errorf("cgroup controller %q not available: %s cannot run there", name, strings.Join(needs[need], ", "))
		}
	}
	return nil
}
