package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/reports"
)

// reportCommand rebuilds a results directory's reports from its recorded
// files alone.
func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "rebuild DIR's report from its results.csv, timeseries.csv and meta.json",
		ArgsUsage: "DIR",
		Description: "Writes DIR/report.md with its figures in DIR/plots (SVG and PNG), and with --format\n" +
			"latex DIR/report.tex (booktabs tables for a paper), json DIR/summary.json (per-point\n" +
			"statistics for scripts) or benchstat DIR/bench.txt (every ok repeat in the Go benchmark\n" +
			"format: benchstat A/bench.txt B/bench.txt compares two runs). The same files in give\n" +
			"byte-identical files out.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: string(reports.FormatMarkdown), Usage: "markdown, latex, json or benchstat; comma-separated for several"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError(fmt.Errorf("report takes one results directory, got %d arguments", c.NArg()))
			}
			formats, err := reports.ParseFormats(c.String("format"))
			if err != nil {
				return usageError(err)
			}
			written, err := reports.BuildFormats(c.Args().First(), formats)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			for _, path := range written {
				fmt.Fprintln(c.App.Writer, path)
			}
			return nil
		},
	}
}
