// Command raftcmp benchmarks Raft implementations side by side: the same
// cluster size, workload and faults for every backend, each node a plugin
// process of its own. See README.md.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/testbed"
	"github.com/raftcmp/raftcmp/faults"
)

// Exit statuses.
const (
	exitFailedPoints = 1   // the run finished but some points failed
	exitUsage        = 2   // bad input: nothing was started
	exitInterrupted  = 130 // stopped by a signal, finished points kept
)

func main() {
	// A fault's competing load is raftcmp re-executed (faults.HogEnv).
	faults.MaybeRunHog()
	testbed.MaybeRunHost() // a test host's init is raftcmp re-executed (testbed.HostEnv)
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	app := newApp(os.Stdout, os.Stderr)
	if err := app.Run(os.Args); err != nil {
		// Every error reaches here as one line; cli.Exit errors carry their
		// status. Nothing prints a stack trace.
		fmt.Fprintln(os.Stderr, "raftcmp:", err)
		os.Exit(1)
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "raftcmp",
		Usage:     "benchmark Raft implementations side by side under the same workload and faults",
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			runCommand(),
			listCommand(),
			reportCommand(),
			compareCommand(),
			conformanceCommand(),
			planCommand(),
			cleanupCommand(),
			testbedCommand(),
			hostCommand(),
		},
		OnUsageError: onUsageError,
		// --fault and --opt values contain commas; never split them.
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            exitErrHandler(stderr),
	}
	for _, c := range app.Commands {
		c.OnUsageError = onUsageError
	}
	return app
}

// onUsageError turns a flag parsing error into the one-line, status-2 form.
func onUsageError(_ *cli.Context, err error, _ bool) error {
	return usageError(err)
}

// usageError marks err as bad input: one line, exit status 2.
func usageError(err error) error {
	return cli.Exit(err.Error(), exitUsage)
}

// exitErrHandler prints a cli.ExitCoder's message as one line and exits
// with its status; other errors are returned to main.
func exitErrHandler(stderr io.Writer) cli.ExitErrHandlerFunc {
	return func(_ *cli.Context, err error) {
		if ec, ok := err.(cli.ExitCoder); ok {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(stderr, "raftcmp:", msg)
			}
			os.Exit(ec.ExitCode())
		}
	}
}
