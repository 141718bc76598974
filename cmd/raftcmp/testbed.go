package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/testbed"
)

func testbedCommand() *cli.Command {
	subs := []*cli.Command{testbedUpCommand(), testbedDownCommand()}
	for _, c := range subs {
		c.OnUsageError = onUsageError
		c.Before = refuseArgs("testbed "+c.Name, nil)
	}
	return &cli.Command{
		Name:  "testbed",
		Usage: "local test hosts (namespaces with sshd, as root) for multi-host runs: up, down",
		Description: "up creates N hosts on this machine, each with its own network, mount, PID and UTS namespace,\n" +
			"joined by a bridge of its own (198.18.0.0/15) and running sshd, and writes DIR/hosts.yaml;\n" +
			"down removes all of it. See docs/hosts.md.",
		Subcommands: subs,
	}
}

func testbedUpCommand() *cli.Command {
	return &cli.Command{
		Name:      "up",
		Usage:     "create N local test hosts and write DIR/hosts.yaml",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "hosts", Value: 3, Usage: fmt.Sprintf("number of hosts, 1..%d", testbed.MaxHosts)},
			&cli.StringFlag{Name: "dir", Usage: "new or empty directory for the testbed's keys, known_hosts and hosts.yaml (required)"},
		},
		Action: func(c *cli.Context) error {
			dir := c.String("dir")
			if err := testbed.Check(dir, c.Int("hosts")); err != nil {
				return usageError(err)
			}
			// Ctrl-C stops waiting for the hosts; Up then removes what it made.
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			tb, err := testbed.Up(ctx, dir, c.Int("hosts"))
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "testbed %s: %d hosts on %s (bridge %s)\n", tb.ID, len(tb.Hosts), tb.Subnet, tb.Bridge)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  HOST\tADDRESS\tNETNS\tINIT PID")
			for _, h := range tb.Hosts {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\n", h.Name, h.Addr, h.Netns, h.PID)
			}
			tw.Flush()
			fmt.Fprintf(w, "hosts file: %s\n", tb.HostsFile)
			fmt.Fprintf(w, "log in:     ssh -i %s -o UserKnownHostsFile=%s root@%s\n", tb.KeyFile, tb.KnownHostsFile, tb.Hosts[0].Addr)
			fmt.Fprintf(w, "remove:     raftcmp testbed down --dir %s\n", tb.Dir)
			return nil
		},
	}
}

func testbedDownCommand() *cli.Command {
	return &cli.Command{
		Name:      "down",
		Usage:     "remove the testbed in DIR: its hosts, links, namespaces and files (idempotent)",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "the directory given to testbed up (required)"},
		},
		Action: func(c *cli.Context) error {
			dir := c.String("dir")
			if dir == "" {
				return usageError(errors.New("--dir: missing: want the directory given to testbed up"))
			}
			if err := testbed.CheckRoot(); err != nil {
				return usageError(err)
			}
			tb, err := testbed.Down(c.Context, dir)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			if tb == nil {
				fmt.Fprintf(c.App.Writer, "nothing to remove: %s holds no testbed\n", dir)
				return nil
			}
			fmt.Fprintf(c.App.Writer, "testbed %s removed: %d hosts, bridge %s, %s\n", tb.ID, len(tb.Hosts), tb.Bridge, tb.Dir)
			return nil
		},
	}
}
