package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/reports"
)

// compareCommand compares two results directories point by point.
func compareCommand() *cli.Command {
	return &cli.Command{
		Name:      "compare",
		Usage:     "compare two results directories point by point, with a significance test over the repeats",
		ArgsUsage: "DIR_A DIR_B",
		Description: "For every point in both (same backend, fault, threads, storage, nodes, payload and rate),\n" +
			"prints the mean throughput and p99 of each side (the writes', and the reads' beside them\n" +
			"where a point read) and the change from A to B with Welch's\n" +
			"t-test over the repeats, or ~ when the change is within noise (p >= 0.05 or too few repeats).\n" +
			"Reads each directory's results.csv only. --csv FILE also writes the same rows as CSV\n" +
			"(docs/results-format.md); --csv - writes the CSV to stdout instead of the table.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "csv", Usage: "also write the comparison as CSV to `FILE` (- for stdout, instead of the table)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usageError(fmt.Errorf("compare takes two results directories, got %d arguments", c.NArg()))
			}
			dirA, dirB := c.Args().Get(0), c.Args().Get(1)
			rowsA, err := reports.ReadResults(filepath.Join(dirA, reports.ResultsFile))
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			rowsB, err := reports.ReadResults(filepath.Join(dirB, reports.ResultsFile))
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			cmp := reports.Compare(rowsA, rowsB)
			csvPath := c.String("csv")
			if csvPath == "-" {
				if err := cmp.WriteCSV(c.App.Writer); err != nil {
					return cli.Exit(fmt.Sprintf("write comparison CSV: %v", err), 1)
				}
				return nil
			}
			if err := cmp.Write(c.App.Writer, dirA, dirB); err != nil {
				return cli.Exit(fmt.Sprintf("write comparison: %v", err), 1)
			}
			if csvPath != "" {
				var b bytes.Buffer
				if err := cmp.WriteCSV(&b); err != nil {
					return cli.Exit(fmt.Sprintf("write comparison CSV: %v", err), 1)
				}
				if err := os.WriteFile(csvPath, b.Bytes(), 0o644); err != nil {
					return cli.Exit(fmt.Sprintf("write comparison CSV: %v", err), 1)
				}
			}
			return nil
		},
	}
}
