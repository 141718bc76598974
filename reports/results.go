// Package reports writes and reads raftcmp's results directory: results.csv
// (one row per point), timeseries.csv (one row per point and interval),
// meta.json (how the run was made) and report.md (the tables a reader wants).
// Reports are built from these files alone, so they can be rebuilt later.
package reports

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"
)

// Point status values.
const (
	StatusOK          = "ok"
	StatusFailed      = "failed"
	StatusUnsupported = "unsupported"
)

// Row is one point's outcome: one line of results.csv. Column names carry
// their units. A failed or unsupported point has a row too, with its reason
// in Error and no figures.
type Row struct {
	Point         string    // stable point id, e.g. "hashicorp/none/t8/r1"
	Impl          string    // backend name
	ImplModule    string    // Raft library module
	ImplVersion   string    // its version as built into the plugin
	Nodes         int       // cluster size
	Storage       string    // disk, tmpfs or memory
	DataFS        string    // file system type holding the data dirs
	Client        string    // embedded (in the leader's process) or external
	Loop          string    // closed or open
	Fault         string    // fault applied, "none" for the baseline
	Threads       int       // client threads
	RateOps       float64   // target ops/s, 0 = unthrottled
	PayloadBytes  int       // proposal size
	WarmupS       float64   // warm-up seconds
	DurationS     float64   // measured window seconds
	Repeat        int       // 1-based repeat number
	Status        string    // ok, failed or unsupported
	Error         string    // why a point failed; empty if ok
	Ops           uint64    // proposals applied inside the measured window
	ThroughputOps float64   // Ops per second of the window
	LatAvgUs      float64   // mean latency, µs
	LatP50Us      int64     // latency percentiles, µs
	LatP90Us      int64     //
	LatP99Us      int64     //
	LatP999Us     int64     //
	LatMaxUs      int64     //
	Errors        uint64    // failed proposals inside the window
	ErrNotLeader  uint64    // of which refused as not leader
	ErrTimeout    uint64    // of which timed out
	ErrOther      uint64    // of which failed otherwise
	Acked         uint64    // proposals acknowledged over the whole load
	AppliedPayl   uint64    // payloads applied on every node at the end
	AppliedIndex  uint64    // log index every node reached
	LeaderID      uint64    // leader when the load started
	LeaderPID     int       // its process id
	Started       time.Time // when the point started (UTC)
	WallS         float64   // seconds the whole point took, start-up to teardown
	FaultTargets  string    // node ids the fault acted on, "3" or "2,3"
	FaultEffect   string    // what the fault was measured to do, name=value;...
	Proxied       bool      // Raft traffic went through raftcmp's proxies
	GOMAXPROCS    int       // of each node process; 0 = Go's default
	ConvergeS     float64   // seconds after the load until every node applied the same log
	// Resource cost over the measured window, per operation of the window:
	CPUUsPerOp       float64 // CPU time (user+sys) of all nodes, µs per op
	LeaderCPUUsPerOp float64 // of the leader alone (it hosts the embedded client)
	WriteBytesPerOp  float64 // bytes all nodes sent to storage, per op
	NetBytesPerOp    float64 // bytes between nodes per op (proxied runs only, else 0)
	PeakRSSBytes     uint64  // largest peak resident memory of any node
	NodeCPUS         string  // CPU seconds per node in the window, "1=0.52;2=0.31"
	LeaderChanges    int     // leader changes seen in the window
	LeaderChangeS    string  // when, seconds into the window, "3.20;7.45"
	Redirects        uint64  // external client: proposals sent again to another node
	// Offered load (see core/load): requests scheduled in the window; of
	// them, those that waited for an in-flight slot (open loop), the total
	// wait, and those never sent because the window ended first.
	Issued  uint64
	Queued  uint64
	QueuedS float64
	Unsent  uint64
}

// Columns is the header of results.csv, in order. Adding a column at the end
// is compatible; renaming or removing one is not.
var Columns = []string{
	"point", "impl", "impl_module", "impl_version", "nodes", "storage", "data_fs", "client", "loop", "fault",
	"threads", "rate_ops", "payload_bytes", "warmup_s", "duration_s", "repeat", "status", "error",
	"ops", "throughput_ops", "lat_avg_us", "lat_p50_us", "lat_p90_us", "lat_p99_us", "lat_p999_us", "lat_max_us",
	"errors", "errors_not_leader", "errors_timeout", "errors_other",
	"acked", "applied_payloads", "applied_index", "leader_id", "leader_pid", "started_at", "wall_s",
	"fault_targets", "fault_effect", "proxied", "gomaxprocs", "converge_s",
	"cpu_us_per_op", "leader_cpu_us_per_op", "write_bytes_per_op", "net_bytes_per_op", "peak_rss_bytes",
	"node_cpu_s", "leader_changes", "leader_change_s", "redirects",
	"issued", "queued", "queued_s", "unsent",
}

// requiredColumns is how many of Columns every results.csv has: the
// first published schema ended with gomaxprocs. Columns added since may
// be missing from older files, and then read as zero values.
var requiredColumns = slices.Index(Columns, "gomaxprocs") + 1

func (r Row) record() []string {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	return []string{
		r.Point, r.Impl, r.ImplModule, r.ImplVersion, strconv.Itoa(r.Nodes), r.Storage, r.DataFS, r.Client, r.Loop, r.Fault,
		strconv.Itoa(r.Threads), f(r.RateOps, -1), strconv.Itoa(r.PayloadBytes), f(r.WarmupS, -1), f(r.DurationS, -1), strconv.Itoa(r.Repeat), r.Status, r.Error,
		u(r.Ops), f(r.ThroughputOps, 1), f(r.LatAvgUs, 1), i(r.LatP50Us), i(r.LatP90Us), i(r.LatP99Us), i(r.LatP999Us), i(r.LatMaxUs),
		u(r.Errors), u(r.ErrNotLeader), u(r.ErrTimeout), u(r.ErrOther),
		u(r.Acked), u(r.AppliedPayl), u(r.AppliedIndex), u(r.LeaderID), strconv.Itoa(r.LeaderPID), r.Started.UTC().Format(time.RFC3339Nano), f(r.WallS, 3),
		r.FaultTargets, r.FaultEffect, strconv.FormatBool(r.Proxied), strconv.Itoa(r.GOMAXPROCS), f(r.ConvergeS, 3),
		f(r.CPUUsPerOp, 2), f(r.LeaderCPUUsPerOp, 2), f(r.WriteBytesPerOp, 1), f(r.NetBytesPerOp, 1), u(r.PeakRSSBytes),
		r.NodeCPUS, strconv.Itoa(r.LeaderChanges), r.LeaderChangeS, u(r.Redirects),
		u(r.Issued), u(r.Queued), f(r.QueuedS, 3), u(r.Unsent),
	}
}

// fields reads typed values by column name from one CSV record, keeping
// the first malformed value as an error naming the file, line and column.
// A column the file does not have (one added to the schema later) reads as
// the zero value.
type fields struct {
	rec  []string
	col  map[string]int
	path string
	line int
	err  error
}

func (f *fields) str(name string) string {
	i, ok := f.col[name]
	if !ok || i >= len(f.rec) {
		return ""
	}
	return f.rec[i]
}

func (f *fields) fail(name string, err error) {
	if _, ok := f.col[name]; ok && f.err == nil {
		f.err = fmt.Errorf("%s:%d: column %s: %w", f.path, f.line, name, err)
	}
}

func (f *fields) uint(name string) uint64 {
	v, err := strconv.ParseUint(f.str(name), 10, 64)
	if err != nil {
		f.fail(name, err)
	}
	return v
}

func (f *fields) int(name string) int64 {
	v, err := strconv.ParseInt(f.str(name), 10, 64)
	if err != nil {
		f.fail(name, err)
	}
	return v
}

func (f *fields) float(name string) float64 {
	v, err := strconv.ParseFloat(f.str(name), 64)
	if err != nil {
		f.fail(name, err)
	}
	return v
}

// parseRow is the inverse of record; line is for error messages.
func parseRow(rec []string, col map[string]int, path string, line int) (Row, error) {
	fs := &fields{rec: rec, col: col, path: path, line: line}
	get, u, i, f, fail := fs.str, fs.uint, fs.int, fs.float, fs.fail
	r := Row{
		Point: get("point"), Impl: get("impl"), ImplModule: get("impl_module"), ImplVersion: get("impl_version"),
		Nodes: int(i("nodes")), Storage: get("storage"), DataFS: get("data_fs"), Client: get("client"), Loop: get("loop"), Fault: get("fault"),
		Threads: int(i("threads")), RateOps: f("rate_ops"), PayloadBytes: int(i("payload_bytes")), WarmupS: f("warmup_s"), DurationS: f("duration_s"),
		Repeat: int(i("repeat")), Status: get("status"), Error: get("error"),
		Ops: u("ops"), ThroughputOps: f("throughput_ops"), LatAvgUs: f("lat_avg_us"),
		LatP50Us: i("lat_p50_us"), LatP90Us: i("lat_p90_us"), LatP99Us: i("lat_p99_us"), LatP999Us: i("lat_p999_us"), LatMaxUs: i("lat_max_us"),
		Errors: u("errors"), ErrNotLeader: u("errors_not_leader"), ErrTimeout: u("errors_timeout"), ErrOther: u("errors_other"),
		Acked: u("acked"), AppliedPayl: u("applied_payloads"), AppliedIndex: u("applied_index"), LeaderID: u("leader_id"),
		LeaderPID: int(i("leader_pid")), WallS: f("wall_s"),
		FaultTargets: get("fault_targets"), FaultEffect: get("fault_effect"), GOMAXPROCS: int(i("gomaxprocs")), ConvergeS: f("converge_s"),
		CPUUsPerOp: f("cpu_us_per_op"), LeaderCPUUsPerOp: f("leader_cpu_us_per_op"), WriteBytesPerOp: f("write_bytes_per_op"),
		NetBytesPerOp: f("net_bytes_per_op"), PeakRSSBytes: u("peak_rss_bytes"), NodeCPUS: get("node_cpu_s"),
		LeaderChanges: int(i("leader_changes")), LeaderChangeS: get("leader_change_s"), Redirects: u("redirects"),
		Issued: u("issued"), Queued: u("queued"), QueuedS: f("queued_s"), Unsent: u("unsent"),
	}
	proxied, perr := strconv.ParseBool(get("proxied"))
	if perr != nil {
		fail("proxied", perr)
	}
	r.Proxied = proxied
	ts, err := time.Parse(time.RFC3339Nano, get("started_at"))
	if err != nil {
		fail("started_at", err)
	}
	r.Started = ts
	switch r.Status {
	case StatusOK, StatusFailed, StatusUnsupported:
	default:
		fail("status", fmt.Errorf("%q is not ok, failed or unsupported", r.Status))
	}
	return r, fs.err
}

// Sample is one time-series interval of one point: a line of timeseries.csv.
type Sample struct {
	Point         string
	Impl          string
	Threads       int
	Repeat        int
	TS            float64 // interval start, seconds from the start of the window
	Ops           uint64
	Errors        uint64
	ThroughputOps float64
	P50Us, P99Us  int64
}

// SeriesColumns is the header of timeseries.csv.
var SeriesColumns = []string{"point", "impl", "threads", "repeat", "t_s", "ops", "errors", "throughput_ops", "p50_us", "p99_us"}

func (s Sample) record() []string {
	return []string{
		s.Point, s.Impl, strconv.Itoa(s.Threads), strconv.Itoa(s.Repeat), strconv.FormatFloat(s.TS, 'f', -1, 64),
		strconv.FormatUint(s.Ops, 10), strconv.FormatUint(s.Errors, 10), strconv.FormatFloat(s.ThroughputOps, 'f', 1, 64),
		strconv.FormatInt(s.P50Us, 10), strconv.FormatInt(s.P99Us, 10),
	}
}

// csvAppender appends records to a CSV file, writing the header when the
// file is new and flushing and syncing after every write, so an interrupted
// run keeps every row it reported.
type csvAppender struct {
	f *os.File
	w *csv.Writer
}

func openAppender(path string, header []string) (*csvAppender, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err // an *os.PathError names the file
	}
	a := &csvAppender{f: f, w: csv.NewWriter(f)}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if fi.Size() == 0 {
		if err := a.write(header); err != nil {
			f.Close()
			return nil, err
		}
	}
	return a, nil
}

func (a *csvAppender) write(recs ...[]string) error {
	if err := a.w.WriteAll(recs); err != nil { // WriteAll flushes
		return fmt.Errorf("write %s: %w", a.f.Name(), err)
	}
	return a.f.Sync()
}

// Writer appends points to results.csv and timeseries.csv in a directory.
type Writer struct {
	results, series *csvAppender
}

// File names inside a results directory.
const (
	ResultsFile    = "results.csv"
	TimeseriesFile = "timeseries.csv"
	MetaFile       = "meta.json"
	ReportFile     = "report.md"
)

// NewWriter opens (creating or appending to) the CSV files in dir.
func NewWriter(dir string) (*Writer, error) {
	r, err := openAppender(dir+"/"+ResultsFile, Columns)
	if err != nil {
		return nil, err
	}
	s, err := openAppender(dir+"/"+TimeseriesFile, SeriesColumns)
	if err != nil {
		r.f.Close()
		return nil, err
	}
	return &Writer{results: r, series: s}, nil
}

// Write records one point: its row and its time series. The series is
// written first, so a row in results.csv always has its series on disk.
func (w *Writer) Write(row Row, series []Sample) error {
	recs := make([][]string, len(series))
	for i, s := range series {
		recs[i] = s.record()
	}
	if len(recs) > 0 {
		if err := w.series.write(recs...); err != nil {
			return err
		}
	}
	return w.results.write(row.record())
}

// Close closes both files.
func (w *Writer) Close() error {
	return errors.Join(w.results.f.Close(), w.series.f.Close())
}

// ReadResults reads a results.csv. Errors name the file and line.
func ReadResults(path string) ([]Row, error) {
	return readCSV(path, Columns[:requiredColumns], parseRow)
}

// ReadTimeseries reads a timeseries.csv. Errors name the file and line.
func ReadTimeseries(path string) ([]Sample, error) {
	return readCSV(path, SeriesColumns, parseSample)
}

// readCSV reads a CSV file whose header must hold the required columns,
// parsing each record with parse. Errors name the file and line.
func readCSV[T any](path string, required []string, parse func(rec []string, col map[string]int, path string, line int) (T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s:1: empty file, want a header", path)
	}
	if err != nil {
		return nil, csvError(path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, c := range required {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("%s:1: header lacks column %q", path, c)
		}
	}
	var out []T
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, csvError(path, err)
		}
		line, _ := cr.FieldPos(0)
		v, err := parse(rec, col, path, line)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// parseSample is the inverse of Sample.record; line is for errors.
func parseSample(rec []string, col map[string]int, path string, line int) (Sample, error) {
	fs := &fields{rec: rec, col: col, path: path, line: line}
	get, u, i, f := fs.str, fs.uint, fs.int, fs.float
	s := Sample{
		Point: get("point"), Impl: get("impl"), Threads: int(i("threads")), Repeat: int(i("repeat")), TS: f("t_s"),
		Ops: u("ops"), Errors: u("errors"), ThroughputOps: f("throughput_ops"), P50Us: i("p50_us"), P99Us: i("p99_us"),
	}
	return s, fs.err
}

// csvError names the file and line of a CSV syntax error.
func csvError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if pe.Column > 0 && !errors.Is(pe.Err, csv.ErrFieldCount) {
			return fmt.Errorf("%s:%d:%d: %w", path, pe.Line, pe.Column, pe.Err)
		}
		return fmt.Errorf("%s:%d: %w", path, pe.Line, pe.Err)
	}
	return fmt.Errorf("%s: %w", path, err)
}
