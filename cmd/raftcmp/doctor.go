package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/preflight"
	"github.com/raftcmp/raftcmp/reports"
)

// exitBadMachine is doctor's status when a finding would invalidate a run.
const exitBadMachine = 1

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check this machine for what would distort or invalidate a run",
		Description: "Inspects cores against nodes plus raftcmp, the CPU clock (governor, turbo), SMT, transparent huge pages,\n" +
			"swap, the data directory's file system, cgroups, the clock source and other busy processes (a 500 ms sample),\n" +
			"and says for each what it means for the results and what to change (docs/preflight.md). Every run records\n" +
			"the same findings in meta.json. Exit status 1 when a finding is bad (a run here would not measure what it claims).",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: 3, Usage: fmt.Sprintf("cluster size the run will have, 1..%d", experiment.MaxNodes)},
			&cli.StringFlag{Name: "storage", Value: string(adapter.StorageDisk), Usage: "storage mode the run will use: disk, tmpfs or memory"},
			&cli.StringFlag{Name: "data-dir", Usage: "where the run will create node data directories (default: the storage mode's, as run uses)"},
		},
		Action: func(c *cli.Context) error {
			nodes, storage := c.Int("nodes"), adapter.Storage(c.String("storage"))
			if nodes < 1 || nodes > experiment.MaxNodes {
				return usageError(fmt.Errorf("--nodes %d: must be from 1 to %d", nodes, experiment.MaxNodes))
			}
			if !slices.Contains(adapter.StorageModes, storage) {
				return usageError(fmt.Errorf("--storage %q: must be one of disk, tmpfs, memory", storage))
			}
			findings := preflight.Check(c.Context, preflight.Options{Nodes: nodes, Storage: storage, DataDir: c.String("data-dir")})
			w := c.App.Writer
			for _, f := range findings {
				fmt.Fprintf(w, "%-4s  %-14s  %s\n", f.Severity, f.Check, f.Found)
				if f.Severity != reports.SeverityOK {
					fmt.Fprintf(w, "%20s  means: %s\n", "", f.Means)
					fmt.Fprintf(w, "%20s  change: %s\n", "", f.Change)
				}
			}
			if preflight.Worst(findings) == reports.SeverityBad {
				var names []string
				for _, f := range findings {
					if f.Severity == reports.SeverityBad {
						names = append(names, f.Check)
					}
				}
				return cli.Exit("a run on this machine now would not measure what it claims: "+strings.Join(names, ", "), exitBadMachine)
			}
			return nil
		},
	}
}
