package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/cluster"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "show the backend plugins found, their library versions and capabilities",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "plugin-dir", Usage: "directory to look for raftcmp-plugin-* binaries in first"},
		},
		Action: func(c *cli.Context) error {
			dirs := cluster.SearchPath(c.StringSlice("plugin-dir")...)
			plugins := cluster.Discover(dirs)
			if len(plugins) == 0 {
				return cli.Exit(fmt.Sprintf("no plugins found (looked in %s); run make", strings.Join(dirs, ", ")), 1)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "IMPL\tLIBRARY\tVERSION\tSTORAGE\tFOLLOWER PROPOSE\tPATH")
			for _, p := range plugins {
				d, err := cluster.Describe(c.Context, p)
				if err != nil {
					fmt.Fprintf(tw, "%s\t(broken: %v)\t\t\t\t%s\n", p.Name, err, p.Path)
					continue
				}
				var storage []string
				for _, s := range d.Capabilities.Storage {
					storage = append(storage, string(s))
				}
				follower := "refuses (not leader)"
				if d.Capabilities.ForwardsProposals {
					follower = "forwards to leader"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, d.Module, d.Version, strings.Join(storage, ","), follower, p.Path)
			}
			return tw.Flush()
		},
	}
}
