package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/hosts"
	"github.com/raftcmp/raftcmp/core/ownership"
	"github.com/raftcmp/raftcmp/core/remote"
	"github.com/raftcmp/raftcmp/faults/cgroup"
)

func cleanupCommand() *cli.Command {
	return &cli.Command{
		Name:  "cleanup",
		Usage: "remove what a killed raftcmp run left: its cgroups and node data directories",
		Description: "Removes only what raftcmp marked as its own and whose run is no longer running: the data\n" +
			"directories and cgroups named in the ledger each run keeps (" + ownership.StateDir() + "), and the\n" +
			"directories of the data roots that carry raftcmp's mark (" + ownership.MarkFile + "). Things of a run\n" +
			"still running, and look-alikes (a raftcmp-* directory or cgroup nothing marks as raftcmp's), are\n" +
			"listed and left alone. Plugin processes need no cleanup: the kernel ends them when their raftcmp\n" +
			"dies. Removing cgroups needs root. With --hosts FILE, it does the same on every host of a hosts\n" +
			"file over SSH instead (docs/hosts.md).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "say what would be removed, remove nothing"},
			&cli.StringSliceFlag{Name: "data-dir", Usage: "a data root to look in besides the system temp dir and /dev/shm (a run's --data-dir; repeatable)"},
			&cli.StringFlag{Name: "hosts", Usage: "clean up every host of this hosts file instead, over SSH: plugin processes, socket and data directories under each host's dir, network rules and ledger-named cgroups left by killed runs (docs/hosts.md)"},
		},
		Action: func(c *cli.Context) error {
			if file := c.String("hosts"); file != "" {
				return cleanupHosts(c, file)
			}
			s, err := ownership.Find(dataRoots(c.StringSlice("data-dir")...))
			if err != nil {
				return cli.Exit(fmt.Sprintf("cleanup: %v", err), 1)
			}
			w := c.App.Writer
			mgr, cgroupErr := cleanupCgroups()
			var removeCgroup func(string) error
			if cgroupErr == nil {
				removeCgroup = mgr.Remove
			}
			var removed []ownership.Item
			if c.Bool("dry-run") {
				for _, it := range s.Leftovers {
					fmt.Fprintf(w, "would remove %s (left by %s)\n", it, it.Owner)
				}
			} else {
				removed, err = s.Remove(removeCgroup)
				for _, it := range removed {
					fmt.Fprintf(w, "removed %s (left by %s)\n", it, it.Owner)
				}
				for _, it := range s.Leftovers {
					if it.Kind == ownership.Cgroup && removeCgroup == nil {
						fmt.Fprintf(w, "kept %s (left by %s): %v\n", it, it.Owner, cgroupErr)
					}
				}
			}
			for _, it := range s.InUse {
				fmt.Fprintf(w, "left alone: %s: its run (%s) is still running\n", it, it.Owner)
			}
			for _, d := range s.LookAlikes {
				fmt.Fprintf(w, "left alone: %s: not marked as raftcmp's own\n", d)
			}
			for _, name := range cgroupLookAlikes(mgr, s) {
				fmt.Fprintf(w, "left alone: cgroup %s: no raftcmp ledger names it\n", name)
			}
			if len(s.Leftovers) == 0 {
				fmt.Fprintln(w, "nothing to clean up")
			}
			if err != nil {
				return cli.Exit(oneLineErr(err), 1)
			}
			return nil
		},
	}
}

// dataRoots are the directories in which data directories are looked for:
// the defaults of every storage mode, then extra.
func dataRoots(extra ...string) []string {
	var roots []string
	for _, s := range adapter.StorageModes {
		roots = append(roots, cluster.DataRoot(s))
	}
	roots = append(roots, extra...)
	slices.Sort(roots)
	return slices.Compact(roots)
}

// cleanupCgroups returns a manager of the system's cgroups; the error says
// why cgroups cannot be removed (no root, no cgroup file system), with the
// manager still returned when they can at least be listed.
func cleanupCgroups() (*cgroup.Manager, error) {
	m, err := cgroup.NewManager(cgroup.DefaultRoot)
	if err != nil {
		return nil, err
	}
	if err := cgroup.Available(); err != nil {
		return m, fmt.Errorf("removing cgroups needs root (sudo raftcmp cleanup): %v", err)
	}
	return m, nil
}

// cgroupLookAlikes lists the cgroups named like raftcmp's that no ledger
// names (nil without a manager).
func cgroupLookAlikes(m *cgroup.Manager, s *ownership.Survey) []string {
	if m == nil {
		return nil
	}
	names, err := m.List()
	if err != nil {
		return nil
	}
	known := map[string]bool{}
	for _, it := range slices.Concat(s.Leftovers, s.InUse, ownership.Held()) {
		if it.Kind == ownership.Cgroup {
			known[it.Name] = true
		}
	}
	return slices.DeleteFunc(names, func(n string) bool { return known[n] })
}

// noticeLeftovers says, in one line, what killed runs left behind and how
// to remove it. A run calls it before it starts and goes on either way.
func noticeLeftovers(w io.Writer, roots ...string) {
	s, err := ownership.Find(dataRoots(roots...))
	if err != nil || len(s.Leftovers) == 0 {
		return
	}
	var pids []string
	for _, o := range s.Owners() {
		pids = append(pids, fmt.Sprint(o.PID))
	}
	var what []string
	if n := s.Count(ownership.Cgroup); n > 0 {
		what = append(what, plural(n, "cgroup"))
	}
	if n := s.Count(ownership.DataDir); n > 0 {
		what = append(what, plural(n, "data directory"))
	}
	cmd := "raftcmp cleanup"
	if s.Count(ownership.Cgroup) > 0 && os.Geteuid() != 0 {
		cmd = "sudo " + cmd
	}
	fmt.Fprintf(w, "raftcmp: a killed run (pid %s) left %s; `%s` removes them\n", strings.Join(pids, ", "), strings.Join(what, " and "), cmd)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(what, "y"))
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// cleanupHosts is `cleanup --hosts FILE`: the helper's cleanup operation on
// every host of the file, concurrently, reported host by host in file
// order. A host that cannot be reached is said in one line on stderr and
// the others go on; the status is then 1.
func cleanupHosts(c *cli.Context, file string) error {
	hf, err := hosts.Load(file)
	if err != nil {
		return usageError(fmt.Errorf("--hosts: %w", err))
	}
	dry := c.Bool("dry-run")
	reports := make([]*remote.CleanupReport, len(hf.Hosts))
	errs := make([]error, len(hf.Hosts))
	var wg sync.WaitGroup
	for i, h := range hf.Hosts {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(c.Context, hostsSetupTimeout)
			defer cancel()
			reports[i], errs[i] = remote.CleanupHost(ctx, h, "", dry)
		})
	}
	wg.Wait()
	w := c.App.Writer
	failed := 0
	for i, h := range hf.Hosts {
		if errs[i] != nil {
			fmt.Fprintf(c.App.ErrWriter, "raftcmp: cleanup: %s\n", oneLineErr(errs[i]))
			failed++
			continue
		}
		r := reports[i]
		verb := "removed"
		if dry {
			verb = "would remove"
		}
		for _, f := range r.Leftovers {
			fmt.Fprintf(w, "%s: %s %s (left by %s)\n", h.Name, verb, f, f.Why)
		}
		for _, f := range r.LeftAlone {
			fmt.Fprintf(w, "%s: left alone: %s: %s\n", h.Name, f, f.Why)
		}
		for _, e := range r.Errors {
			fmt.Fprintf(c.App.ErrWriter, "raftcmp: cleanup: host %s: %s\n", h.Name, e)
			failed++
		}
		if len(r.Leftovers) == 0 {
			fmt.Fprintf(w, "%s: nothing to clean up\n", h.Name)
		}
	}
	if failed > 0 {
		return cli.Exit("", 1)
	}
	return nil
}

// noticeHostLeftovers says, one line per host, what killed runs left on
// the hosts of a run with --hosts (file) and how to remove it. The run
// calls it once connected and goes on either way.
func noticeHostLeftovers(ctx context.Context, w io.Writer, l *remote.Launcher, file string) {
	if l == nil {
		return
	}
	for _, h := range l.Leftovers(ctx) {
		if h.Err != nil || len(h.Report.Leftovers) == 0 {
			continue
		}
		var what []string
		for _, k := range h.Report.Kinds() {
			what = append(what, plural(h.Report.Count(k), k))
		}
		fmt.Fprintf(w, "raftcmp: host %s: a killed run left %s; `raftcmp cleanup --hosts %s` removes them\n", h.Host, strings.Join(what, " and "), file)
	}
}
