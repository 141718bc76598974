package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
)

func conformanceCommand() *cli.Command {
	return &cli.Command{
		Name:  "conformance",
		Usage: "check that a backend plugin keeps the adapter contract (before believing its numbers)",
		Description: "Starts the plugin's real processes and runs the conformance kit (core/adapter/adaptertest):\n" +
			"one PASS/FAIL/SKIP line per check. Exit status 1 if any check fails.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plugin", Required: true, Usage: "path to the plugin binary (raftcmp-plugin-<impl>)"},
			&cli.StringSliceFlag{Name: "opt", Usage: "backend option KEY=VALUE passed to every node (repeatable)"},
			&cli.StringFlag{Name: "raft", Value: adapter.ProfileProduction, Usage: "shared Raft knobs for every cluster, as run's --raft takes them"},
			&cli.StringSliceFlag{Name: "check", Usage: "run only this check (repeatable); default all"},
			insecurePluginFlag(),
		},
		Action: func(c *cli.Context) error {
			path, err := filepath.Abs(c.String("plugin"))
			if err != nil {
				return usageError(fmt.Errorf("--plugin %q: %v", c.String("plugin"), err))
			}
			if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
				return usageError(fmt.Errorf("--plugin %q: must be an executable file", c.String("plugin")))
			}
			opts := adapter.Options{}
			for _, o := range c.StringSlice("opt") {
				k, v, ok := strings.Cut(o, "=")
				if !ok || k == "" {
					return usageError(fmt.Errorf("--opt %q: want KEY=VALUE", o))
				}
				opts[k] = v
			}
			_, knobs, err := adapter.ParseRaft(c.String("raft"))
			if err != nil {
				return usageError(fmt.Errorf("--raft %q: %v", c.String("raft"), err))
			}
			known := map[string]bool{}
			for _, ch := range adaptertest.Checks() {
				known[ch.Name] = true
			}
			for _, name := range c.StringSlice("check") {
				if !known[name] {
					var names []string
					for _, ch := range adaptertest.Checks() {
						names = append(names, ch.Name)
					}
					return usageError(fmt.Errorf("--check %q: must be one of %s", name, strings.Join(names, ", ")))
				}
			}
			name := strings.TrimPrefix(filepath.Base(path), cluster.PluginPrefix)
			plugin := cluster.Plugin{Name: name, Path: path}
			if err := cluster.Admit(&plugin, c.StringSlice("insecure-plugin")); err != nil {
				return usageError(fmt.Errorf("--plugin: %v", err))
			}
			cfg := adaptertest.Config{Plugin: plugin, Options: opts, Raft: knobs, Only: c.StringSlice("check")}
			failed := 0
			_, err = adaptertest.RunAll(c.Context, cfg, func(r adaptertest.Result) {
				switch {
				case r.Err == nil:
					fmt.Fprintf(c.App.Writer, "PASS  %-20s %s\n", r.Check.Name, r.Check.Doc)
				case errors.Is(r.Err, adaptertest.ErrSkipped):
					fmt.Fprintf(c.App.Writer, "SKIP  %-20s %v\n", r.Check.Name, r.Err)
				default:
					failed++
					fmt.Fprintf(c.App.Writer, "FAIL  %-20s %v\n", r.Check.Name, oneLineErr(r.Err))
				}
			})
			if err != nil {
				return cli.Exit(oneLineErr(err), 1)
			}
			if failed > 0 {
				return cli.Exit(fmt.Sprintf("%s: %d check(s) failed", path, failed), 1)
			}
			return nil
		},
	}
}

func oneLineErr(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
