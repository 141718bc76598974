package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/hosts"
	"github.com/raftcmp/raftcmp/core/remote"
	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/reports"
)

// hostCommand is the hidden `raftcmp host OP ...`: the host-side helper
// that a run with --hosts installs on every host and runs there over SSH
// (remote.RunHelper). Its arguments are passed through untouched.
func hostCommand() *cli.Command {
	return &cli.Command{
		Name:            remote.HelperCommand,
		ArgsUsage:       "OP ARGS...", // takes arguments: newApp must not refuse them
		Usage:           "host-side helper of runs with --hosts (raftcmp runs it on each host over SSH)",
		Hidden:          true,
		HideHelp:        true,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			if code := remote.RunHelper(c.Args().Slice()); code != 0 {
				return cli.Exit("", code) // the helper has said why on stderr
			}
			return nil
		},
	}
}

// hostsSetupTimeout bounds connecting to every host and installing the
// binaries there.
const hostsSetupTimeout = 5 * time.Minute

// remoteNodes prepares a run on the hosts of --hosts, before anything
// starts: it refuses what cannot run there yet (tmpfs storage), connects to every host a node uses (refusing one that is
// unreachable, refuses the key or has another host key, with one line
// naming it), installs and verifies raftcmp and the plugins there, refuses
// a host on which a fault cannot run (no usable cgroups, a controller
// missing), and says where the nodes run. Without --hosts it returns nil: nodes run on this machine.
// Every error is bad input (status 2): nothing has started.
func remoteNodes(c *cli.Context, spec experiment.Spec, plugins map[string]cluster.Plugin) (*remote.Launcher, []reports.NodeHost, error) {
	file := spec.Hosts // the experiment's hosts setting: --hosts or a file's hosts:
	if file == "" {
		return nil, nil, nil
	}
	if spec.Storage == adapter.StorageTmpfs {
		return nil, nil, usageError(fmt.Errorf("--storage %s: not supported with --hosts yet: node data lives in each host's dir (use disk or memory)", spec.Storage))
	}
	hf, err := hosts.Load(file)
	if err != nil {
		return nil, nil, usageError(fmt.Errorf("--hosts: %w", err))
	}
	ctx, cancel := context.WithTimeout(c.Context, hostsSetupTimeout)
	defer cancel()
	l, err := remote.New(ctx, remote.Config{Hosts: hf.Hosts, Nodes: spec.Nodes, KeepData: c.Bool("keep-data")})
	if err != nil {
		return nil, nil, usageError(fmt.Errorf("--hosts %s: %w", file, err))
	}
	var ps []cluster.Plugin
	for _, impl := range spec.Impls {
		ps = append(ps, plugins[impl])
	}
	if err := l.Install(ctx, ps...); err != nil {
		l.Close()
		return nil, nil, usageError(fmt.Errorf("--hosts %s: %w", file, err))
	}
	if drop, rate, delay := faults.NetNeeds(spec.Faults); drop || rate || delay {
		if err := l.CheckNet(ctx, drop, rate, delay); err != nil {
			l.Close()
			return nil, nil, usageError(fmt.Errorf("--hosts %s: network faults: %w", file, err))
		}
	}
	if err := l.CheckFaults(ctx, spec.Faults); err != nil {
		l.Close()
		return nil, nil, usageError(fmt.Errorf("--hosts %s: %w", file, err))
	}
	pl, err := hosts.Place(hf.Hosts, spec.Nodes)
	if err != nil {
		l.Close()
		return nil, nil, usageError(fmt.Errorf("--hosts %s: %w", file, err))
	}
	// Hosts that are one machine (one kernel, as testbed hosts are) share
	// its CPUs: the rows and the report must say so.
	machines, err := l.BootIDs(ctx)
	if err != nil {
		l.Close()
		return nil, nil, usageError(fmt.Errorf("--hosts %s: %w", file, err))
	}
	var placed []reports.NodeHost
	var each []string
	for id := 1; id <= spec.Nodes; id++ {
		h := pl.Host(id)
		placed = append(placed, reports.NodeHost{Node: id, Host: h.Name, SSH: h.SSH, DataAddr: h.DataAddr, Machine: machines[h.Name]})
		each = append(each, fmt.Sprintf("node %d on %s", id, h.Name))
	}
	fmt.Fprintf(c.App.ErrWriter, "raftcmp: hosts from %s: %s (%s)\n", file, strings.Join(each, ", "), pl)
	if shared := reports.SharingAMachine(placed); len(shared) > 0 {
		fmt.Fprintf(c.App.ErrWriter, "raftcmp: hosts %s are one machine (the same kernel): their nodes share its CPUs and disk, and the rows say so (placement %s)\n", strings.Join(shared, ", "), reports.PlacementSharedMachine)
	}
	return l, placed, nil
}

// nodeLauncher is the runner's launcher: l, or the default (nodes on this
// machine) when there is none. (A nil *remote.Launcher in the interface
// would not be nil.)
func nodeLauncher(l *remote.Launcher) cluster.Launcher {
	if l == nil {
		return nil
	}
	return l
}
