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
		Description: "Each plugin is checked as run checks it (its checksum manifest, unless --insecure-plugin names\n" +
			"it) before it is started to describe itself; a refused plugin is shown with the reason, not started.",
		Flags: []cli.Flag{pluginDirFlag(), insecurePluginFlag()},
		Action: func(c *cli.Context) error {
			src := pluginSourceOf(c)
			plugins, refusals := src.discover()
			if len(plugins) == 0 {
				return cli.Exit(fmt.Sprintf("no plugins found (looked in %s); run make", strings.Join(src.dirs, ", ")), 1)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "IMPL\tLIBRARY\tVERSION\tSTORAGE\tNODES\tFOLLOWER PROPOSE\tPATH")
			for i, p := range plugins {
				if refusals[i] != nil {
					fmt.Fprintf(tw, "%s\t(%s)\t\t\t\t\t%s\n", p.Name, oneLineErr(refusals[i]), p.Path)
					continue
				}
				d, err := cluster.Describe(c.Context, p)
				if err != nil {
					fmt.Fprintf(tw, "%s\t(broken: %s)\t\t\t\t\t%s\n", p.Name, oneLineErr(err), p.Path)
					continue
				}
				var storage []string
				for _, s := range d.Capabilities.Storage {
					storage = append(storage, string(s))
				}
				nodes := "any"
				switch n := d.Capabilities.MaxNodes; {
				case n == 1:
					nodes = "1"
				case n > 1:
					nodes = fmt.Sprintf("1..%d", n)
				}
				follower := "refuses (not leader)"
				if d.Capabilities.ForwardsProposals {
					follower = "forwards to leader"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, d.Module, d.Version, strings.Join(storage, ","), nodes, follower, p.Path)
			}
			return tw.Flush()
		},
	}
}
