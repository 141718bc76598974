package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

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
