// Command raftcmp benchmarks Raft implementations side by side: the same
// cluster size, workload and faults for every backend, each node a plugin
// process of its own. See README.md.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/testbed"
	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/reports"
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
	if err := app.Run(flagsFirst(app, os.Args)); err != nil {
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
		Version:   reports.SelfBuild().String(),
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
			doctorCommand(),
			hostCommand(),
		},
		OnUsageError: onUsageError,
		// --fault and --opt values contain commas; never split them.
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            exitErrHandler(stderr),
	}
	for _, c := range app.Commands {
		c.OnUsageError = onUsageError
		// A command with subcommands or its own argument parsing says
		// itself what it takes.
		if c.ArgsUsage == "" && len(c.Subcommands) == 0 && !c.SkipFlagParsing {
			c.Before = refuseArgs(c.Name, c.Before)
		}
	}
	return app
}

// refuseArgs makes a command that takes no positional arguments (no
// ArgsUsage) refuse any, as bad input, before next and its action run: a
// stray word is a mistake, not something to ignore.
func refuseArgs(name string, next cli.BeforeFunc) cli.BeforeFunc {
	return func(c *cli.Context) error {
		if c.Args().Present() {
			return usageError(fmt.Errorf("%s takes no arguments (got %q); flags start with --", name, c.Args().First()))
		}
		if next != nil {
			return next(c)
		}
		return nil
	}
}

// flagsFirst returns args (os.Args) with the subcommand's flags moved
// before its positional arguments, so that `raftcmp report DIR --format
// latex` means what `raftcmp report --format latex DIR` does: urfave/cli/v2
// parses flags with the standard flag package, which stops at the first
// positional argument (v2 has no option for interspersed flags). Which
// flags take a value comes from the subcommand's own flag definitions; a
// flag it does not define is taken to have none (it is refused anyway).
// "--" still ends the flags: what follows stays positional. A request for
// help, or a flag missing its value, is passed on alone, so the user sees
// the command's help or that flag's error rather than one about the
// positional arguments.
func flagsFirst(app *cli.App, args []string) []string {
	i := 1 // the subcommand: the first argument that is not a flag
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		i++ // the app's own flags (--help, --version) take no value
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	// A subcommand's own subcommand (testbed up) is where its flags are.
	for len(cmd.Subcommands) > 0 && i+1 < len(args) && cmd.Command(args[i+1]) != nil {
		i++
		cmd = cmd.Command(args[i])
	}
	if cmd.SkipFlagParsing {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		v, ok := f.(cli.DocGenerationFlag)
		for _, name := range f.Names() {
			takesValue[name] = !ok || v.TakesValue()
		}
	}
	head, rest := args[:i+1], args[i+1:]
	var flags, positional []string
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		_, defined := takesValue[name]
		switch {
		case a == "--":
			return slices.Concat(head, flags, rest[j:j+1], positional, rest[j+1:])
		case a == "-" || !strings.HasPrefix(a, "-"):
			positional = append(positional, a)
		case !defined && slices.Contains(cli.HelpFlag.Names(), name):
			return slices.Concat(head, []string{a})
		case takesValue[name] && !hasValue && j+1 == len(rest):
			return slices.Concat(head, flags, []string{a}) // "flag needs an argument"
		case takesValue[name] && !hasValue:
			flags = append(flags, a, rest[j+1])
			j++
		default:
			flags = append(flags, a)
		}
	}
	return slices.Concat(head, flags, positional)
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
