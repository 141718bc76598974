package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/runner"
	"github.com/raftcmp/raftcmp/faults/cgroup"
)

// pointOverhead is the estimated time of a point outside its load: cluster
// start-up and election, safety check and teardown. Measured here at 1 to 3
// s per point across the three backends (results.csv's wall_s minus
// warm-up and window); plan uses the upper end.
const pointOverhead = 3 * time.Second

func planCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "print the points an experiment would run and an estimate of the wall time; runs nothing",
		Flags: experimentFlags(),
		Action: func(c *cli.Context) error {
			spec, plugins, _, err := specFromFlags(c)
			if err != nil {
				return usageError(err)
			}
			points := spec.Points()
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tPOINT\tIMPL\tFAULT\tTHREADS\tREPEAT")
			for _, p := range points {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\n", p.Index, p.ID, p.Impl, p.Fault, p.Threads, p.Repeat)
			}
			tw.Flush()
			per := spec.Warmup + spec.Duration + pointOverhead
			total := time.Duration(len(points)) * per
			fmt.Fprintf(c.App.Writer, "\n%d points x ~%v (warm-up %v + window %v + ~%v start-up and teardown) = about %v\n",
				len(points), per, spec.Warmup, spec.Duration, pointOverhead, total.Round(time.Second))
			var impls []string
			for _, impl := range spec.Impls {
				impls = append(impls, impl+" ("+plugins[impl].Path+")")
			}
			fmt.Fprintf(c.App.Writer, "backends: %s\n", strings.Join(impls, ", "))
			fmt.Fprintf(c.App.Writer, "each node: GOMAXPROCS %s; cgroups: %v; link proxies: %v\n",
				gomaxprocsText(spec.NodeGOMAXPROCS()), runner.NeedsCgroups(spec), runner.NeedsProxies(spec))
			if runner.NeedsCgroups(spec) {
				if err := cgroup.Available(); err != nil {
					fmt.Fprintf(c.App.Writer, "warning: run would refuse to start: %v\n", err)
				}
			}
			return nil
		},
	}
}

func gomaxprocsText(n int) string {
	if n == 0 {
		return "left to Go"
	}
	return fmt.Sprint(n)
}

func cleanupCommand() *cli.Command {
	return &cli.Command{
		Name:  "cleanup",
		Usage: "remove what a killed raftcmp run left: its cgroups and node data directories",
		Description: "Finds leftovers by raftcmp's naming prefix (raftcmp-). Plugin processes need no cleanup:\n" +
			"the kernel ends them when their raftcmp dies. Refuses while a raftcmp plugin process runs,\n" +
			"since its run still owns what it made.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "say what would be removed, remove nothing"},
		},
		Action: func(c *cli.Context) error {
			if pids := runningPlugins(); len(pids) > 0 {
				return cli.Exit(fmt.Sprintf("a raftcmp run is in progress (plugin processes %v); stop it first", pids), 1)
			}
			dry := c.Bool("dry-run")
			verb := "removed"
			if dry {
				verb = "would remove"
			}
			n := 0
			if err := cgroup.Available(); err == nil {
				m, err := cgroup.NewManager(cgroup.DefaultRoot)
				if err != nil {
					return cli.Exit(err.Error(), 1)
				}
				if dry {
					fmt.Fprintln(c.App.Writer, "cgroups: (dry run lists data directories only)")
				} else {
					removed, err := m.Cleanup()
					for _, r := range removed {
						fmt.Fprintf(c.App.Writer, "%s cgroup %s\n", verb, r)
						n++
					}
					if err != nil {
						return cli.Exit(fmt.Sprintf("cgroup cleanup: %v", err), 1)
					}
				}
			}
			for _, root := range []string{cluster.DataRoot("disk"), cluster.DataRoot("tmpfs")} {
				dirs, _ := filepath.Glob(filepath.Join(root, "raftcmp-*"))
				for _, d := range dirs {
					if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
						continue
					}
					if !dry {
						if err := os.RemoveAll(d); err != nil {
							return cli.Exit(fmt.Sprintf("remove %s: %v", d, err), 1)
						}
					}
					fmt.Fprintf(c.App.Writer, "%s data dir %s\n", verb, d)
					n++
				}
			}
			if n == 0 {
				fmt.Fprintln(c.App.Writer, "nothing to clean up")
			}
			return nil
		},
	}
}

// runningPlugins lists the pids of running raftcmp plugin processes.
func runningPlugins() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(filepath.Base(exe), cluster.PluginPrefix) {
			pids = append(pids, pid)
		}
	}
	return pids
}
