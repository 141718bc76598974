package reports

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Format is an output of raftcmp report.
type Format string

// Report formats and the files they write in the results directory.
const (
	// FormatMarkdown writes report.md and its figures in plots/.
	FormatMarkdown Format = "markdown"
	// FormatLaTeX writes report.tex: the comparison tables as booktabs
	// LaTeX, for a paper.
	FormatLaTeX Format = "latex"
	// FormatJSON writes summary.json: the per-point statistics, impacts
	// and rankings, for scripts.
	FormatJSON Format = "json"
	// FormatBenchstat writes bench.txt: every ok repeat of every point in
	// the Go benchmark format, for benchstat.
	FormatBenchstat Format = "benchstat"
)

// Files written by the report formats, and the figures' directory.
const (
	LaTeXFile   = "report.tex"
	SummaryFile = "summary.json"
	BenchFile   = "bench.txt"
	PlotsDir    = "plots"
)

// ParseFormats reads a comma-separated list of formats ("markdown",
// "md", "latex", "tex", "json", "benchstat").
func ParseFormats(s string) ([]Format, error) {
	var out []Format
	for _, f := range strings.Split(s, ",") {
		var v Format
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "markdown", "md":
			v = FormatMarkdown
		case "latex", "tex":
			v = FormatLaTeX
		case "json":
			v = FormatJSON
		case "benchstat":
			v = FormatBenchstat
		default:
			return nil, fmt.Errorf("--format %q: want markdown, latex, json or benchstat (comma-separated for several)", s)
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// Load reads a results directory (results.csv, timeseries.csv, meta.json
// and the histogram logs its ok rows name) and analyzes it. Errors name the file and, for bad content, the line.
func Load(dir string) (*Analysis, error) {
	rows, err := ReadResults(filepath.Join(dir, ResultsFile))
	if err != nil {
		return nil, err
	}
	series, err := ReadTimeseries(filepath.Join(dir, TimeseriesFile))
	if err != nil {
		return nil, err
	}
	meta, err := ReadMeta(dir)
	if err != nil {
		return nil, err
	}
	hists, err := ReadHdrLogs(dir, rows)
	if err != nil {
		return nil, err
	}
	return AnalyzeHists(meta, rows, series, hists), nil
}

// BuildFormats loads dir and writes the given formats into it, returning
// the paths written (report.md, report.tex, summary.json, bench.txt; the figures are
// in plots/). The same files in give byte-identical files out.
func BuildFormats(dir string, formats []Format) ([]string, error) {
	a, err := Load(dir)
	if err != nil {
		return nil, err
	}
	var written []string
	for _, f := range formats {
		switch f {
		case FormatMarkdown:
			if err := a.WritePlots(filepath.Join(dir, PlotsDir)); err != nil {
				return written, fmt.Errorf("plots: %w", err)
			}
			path := filepath.Join(dir, ReportFile)
			if err := writeFileAtomic(path, a.Markdown()); err != nil {
				return written, err
			}
			written = append(written, path)
		case FormatLaTeX:
			path := filepath.Join(dir, LaTeXFile)
			if err := writeFileAtomic(path, a.LaTeX()); err != nil {
				return written, err
			}
			written = append(written, path)
		case FormatJSON:
			b, err := a.JSON()
			if err != nil {
				return written, fmt.Errorf("summary: %w", err)
			}
			path := filepath.Join(dir, SummaryFile)
			if err := writeFileAtomic(path, b); err != nil {
				return written, err
			}
			written = append(written, path)
		case FormatBenchstat:
			path := filepath.Join(dir, BenchFile)
			if err := writeFileAtomic(path, a.Benchstat()); err != nil {
				return written, err
			}
			written = append(written, path)
		default:
			return written, fmt.Errorf("unknown report format %q", f)
		}
	}
	return written, nil
}
