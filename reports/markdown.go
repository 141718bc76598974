package reports

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Build reads dir's results.csv and meta.json and writes dir/report.md. It
// depends on nothing but those files, so a report can be rebuilt at any
// time (raftcmp report DIR).
func Build(dir string) error {
	rows, err := ReadResults(filepath.Join(dir, ResultsFile))
	if err != nil {
		return err
	}
	meta, err := ReadMeta(dir)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ReportFile), Markdown(meta, rows))
}

// Markdown renders the report. The output depends only on its inputs.
func Markdown(meta *Meta, rows []Row) []byte {
	var b bytes.Buffer
	impls := implsOf(rows)
	threads := threadsOf(rows)
	b.WriteString("# raftcmp report\n\n")
	writeSetup(&b, meta, rows)

	fmt.Fprintf(&b, "## Throughput (Kops/s)\n\n")
	writeMatrix(&b, rows, impls, threads, func(rs []Row) string {
		return fmt.Sprintf("%.2f", mean(rs, func(r Row) float64 { return r.ThroughputOps })/1000)
	})
	fmt.Fprintf(&b, "## p99 latency (µs)\n\n")
	writeMatrix(&b, rows, impls, threads, func(rs []Row) string {
		return fmt.Sprintf("%.0f", mean(rs, func(r Row) float64 { return float64(r.LatP99Us) }))
	})
	for _, impl := range impls {
		writeBackend(&b, impl, rows)
	}
	writeFailures(&b, rows)
	return b.Bytes()
}

func writeSetup(b *bytes.Buffer, meta *Meta, rows []Row) {
	if len(rows) == 0 {
		b.WriteString("No point finished.\n\n")
	}
	var first Row
	if len(rows) > 0 {
		first = rows[0]
	}
	b.WriteString("| | |\n|---|---|\n")
	var backends []string
	for _, impl := range implsOf(rows) {
		for _, r := range rows {
			if r.Impl == impl && r.ImplModule != "" {
				backends = append(backends, fmt.Sprintf("%s (%s %s)", impl, r.ImplModule, r.ImplVersion))
				break
			}
		}
	}
	row := func(k, v string) { fmt.Fprintf(b, "| %s | %s |\n", k, v) }
	row("Backends", strings.Join(backends, ", "))
	row("Cluster", fmt.Sprintf("%d nodes, storage %s on %s", first.Nodes, first.Storage, first.DataFS))
	row("Client", fmt.Sprintf("%s client, %s loop", first.Client, first.Loop))
	var ts []string
	for _, t := range threadsOf(rows) {
		ts = append(ts, strconv.Itoa(t))
	}
	rate := "unthrottled"
	if first.RateOps > 0 {
		rate = fmt.Sprintf("%g ops/s target", first.RateOps)
	}
	row("Workload", fmt.Sprintf("threads %s; %s; %d-byte payloads", strings.Join(ts, ", "), rate, first.PayloadBytes))
	row("Timing", fmt.Sprintf("%gs warm-up, %gs measured per point", first.WarmupS, first.DurationS))
	if meta != nil {
		row("Host", fmt.Sprintf("%s; %d × %s", meta.Host.Kernel, meta.Host.CPUs, meta.Host.CPUModel))
		row("raftcmp", fmt.Sprintf("%s %s, %s", meta.Raftcmp.Version, shortCommit(meta.Raftcmp.Commit), meta.Raftcmp.GoVersion))
		span := meta.Started.UTC().Format(time.RFC3339)
		if !meta.Ended.IsZero() {
			span += " to " + meta.Ended.UTC().Format(time.RFC3339)
		}
		if meta.Interrupted {
			span += " (interrupted)"
		}
		row("Run", span)
		row("Command", "`"+strings.Join(meta.Command, " ")+"`")
	}
	b.WriteString("\nFigures are from `results.csv`; a cell is the mean over repeats of the points that succeeded.\n\n")
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// writeMatrix writes a threads × backend table whose cells cell renders
// from the successful rows of that backend and thread count.
func writeMatrix(b *bytes.Buffer, rows []Row, impls []string, threads []int, cell func([]Row) string) {
	b.WriteString("| threads |")
	for _, impl := range impls {
		fmt.Fprintf(b, " %s |", impl)
	}
	b.WriteString("\n|---:|")
	b.WriteString(strings.Repeat("---:|", len(impls)))
	b.WriteString("\n")
	for _, t := range threads {
		fmt.Fprintf(b, "| %d |", t)
		for _, impl := range impls {
			var ok, all []Row
			for _, r := range rows {
				if r.Impl == impl && r.Threads == t {
					all = append(all, r)
					if r.Status == StatusOK {
						ok = append(ok, r)
					}
				}
			}
			switch {
			case len(ok) > 0:
				fmt.Fprintf(b, " %s |", cell(ok))
			case len(all) > 0:
				fmt.Fprintf(b, " %s |", all[0].Status)
			default:
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func writeBackend(b *bytes.Buffer, impl string, rows []Row) {
	var mine []Row
	for _, r := range rows {
		if r.Impl == impl {
			mine = append(mine, r)
		}
	}
	slices.SortStableFunc(mine, func(a, c Row) int {
		if a.Threads != c.Threads {
			return a.Threads - c.Threads
		}
		return a.Repeat - c.Repeat
	})
	fmt.Fprintf(b, "## %s (%s %s)\n\n", impl, mine[0].ImplModule, mine[0].ImplVersion)
	b.WriteString("| threads | repeat | Kops/s | avg µs | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | errors | status |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range mine {
		if r.Status != StatusOK {
			fmt.Fprintf(b, "| %d | %d | | | | | | | | | %s |\n", r.Threads, r.Repeat, r.Status)
			continue
		}
		fmt.Fprintf(b, "| %d | %d | %.2f | %.0f | %d | %d | %d | %d | %d | %d | ok |\n",
			r.Threads, r.Repeat, r.ThroughputOps/1000, r.LatAvgUs, r.LatP50Us, r.LatP90Us, r.LatP99Us, r.LatP999Us, r.LatMaxUs, r.Errors)
	}
	b.WriteString("\n")
}

func writeFailures(b *bytes.Buffer, rows []Row) {
	var bad []Row
	for _, r := range rows {
		if r.Status != StatusOK {
			bad = append(bad, r)
		}
	}
	if len(bad) == 0 {
		return
	}
	b.WriteString("## Points without figures\n\n")
	for _, r := range bad {
		fmt.Fprintf(b, "- `%s` %s: %s\n", r.Point, r.Status, strings.ReplaceAll(r.Error, "\n", " "))
	}
	b.WriteString("\n")
}

func implsOf(rows []Row) []string {
	var out []string
	for _, r := range rows {
		if !slices.Contains(out, r.Impl) {
			out = append(out, r.Impl)
		}
	}
	slices.Sort(out)
	return out
}

func threadsOf(rows []Row) []int {
	var out []int
	for _, r := range rows {
		if !slices.Contains(out, r.Threads) {
			out = append(out, r.Threads)
		}
	}
	slices.Sort(out)
	return out
}

func mean(rows []Row, f func(Row) float64) float64 {
	var s float64
	for _, r := range rows {
		s += f(r)
	}
	return s / float64(len(rows))
}

// RemoveResults deletes the files a run writes in dir (not the directory or
// anything else in it), for a run told to overwrite.
func RemoveResults(dir string) error {
	for _, name := range []string{ResultsFile, TimeseriesFile, MetaFile, ReportFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return os.RemoveAll(filepath.Join(dir, "logs"))
}
