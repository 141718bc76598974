// Package reports writes and reads raftcmp's results directory: results.csv
// (one row per point), timeseries.csv (one row per point and interval),
// meta.json (how the run was made) and report.md (the tables a reader wants).
// Reports are built from these files alone, so they can be rebuilt later.
package reports

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/raftcmp/raftcmp/faults/faultspec"
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
	// Where the nodes ran (SetPlacement): each node's host, "1=h1;2=h2",
	// or "local"; the CPU each was pinned to, "1=1;2=2", or "" if none
	// was; and the placement in one word (PlacementHosts ...). Empty in
	// rows of older files.
	NodeHosts string
	NodeCPUs  string
	Placement string
	// ClientPath is how the client's proposals reached the nodes:
	// in-process (embedded), local (external, the plugin socket on this
	// machine) or ssh (external, through the host's SSH connection).
	ClientPath string
	// The host's interference over the measured window, from /proc of
	// raftcmp's machine (core/runner): nil when not measured (older
	// files, failed points, nodes on remote hosts). HostCPUUtil is the
	// share of all CPUs busy, HostSteal the share stolen by a hypervisor,
	// OutsideCPU the CPU-seconds per second used by processes outside
	// the experiment, CPUPressure the share of the window in which some
	// task waited for a CPU (PSI; nil without /proc/pressure) and
	// ProcsRunning the mean count of runnable tasks. See Interfered.
	HostCPUUtil  *float64
	HostSteal    *float64
	OutsideCPU   *float64
	CPUPressure  *float64
	ProcsRunning *float64
	// The shared Raft knobs (adapter.Raft): the profile the experiment
	// asked for, canonical ("production", "uniform,election=2s"), the
	// knobs as the backend applied them ("election=1s,heartbeat=100ms,...")
	// and those it could not honour as asked, with why ("knob=value:
	// reason; ..."). Empty in rows of older files, which ran production.
	RaftProfile    string
	RaftApplied    string
	RaftUnhonoured string
	// HdrFile is the point's latency histogram log, relative to the
	// results directory (HdrFile of its point id): its intervals are the
	// time series' intervals and add up to the latency figures above.
	// Empty for a point without figures (failed or unsupported), in files
	// written before it existed, and when the plugin sent no interval
	// histograms.
	HdrFile string
	// Payload is the payload sizes as --payload gave them, canonical: a
	// size ("2048") or a distribution drawn per proposal
	// ("uniform:64:4096", "pareto:64:1.2:65536"); PayloadMeanBytes is
	// their expected mean, which PayloadBytes rounds. Empty and 0 in rows
	// of older files, whose proposals were all PayloadBytes long.
	Payload          string
	PayloadMeanBytes float64
	// The reads of a mixed load (--read-ratio above 0), measured apart from
	// the writes, whose figures are the columns above: ReadRatio,
	// ReadMode and ReadFrom as set; ReadOps reads answered in the window,
	// their throughput, latency percentiles and errors; StaleReads the
	// reads that missed a write acknowledged before they began. All zero
	// or empty in a write-only row and in rows of older files.
	ReadRatio         float64
	ReadMode          string
	ReadFrom          string
	ReadOps           uint64
	ReadThroughputOps float64
	ReadLatP50Us      int64
	ReadLatP90Us      int64
	ReadLatP99Us      int64
	ReadLatP999Us     int64
	ReadLatMaxUs      int64
	ReadErrors        uint64
	StaleReads        uint64
	// ReadHdrFile is the reads' latency histogram log (HdrFile of
	// ReadsHdrPoint of the point id), as HdrFile is the writes'.
	ReadHdrFile string
	// The reads' share of the offered load, as Issued, Queued, QueuedS and
	// Unsent are the writes' (see core/load). In rows written before these
	// columns existed, Issued ... Unsent counted the open loop's reads and
	// writes together, and these are 0.
	ReadIssued  uint64
	ReadQueued  uint64
	ReadQueuedS float64
	ReadUnsent  uint64
	// StaleFile is the file, relative to the results directory, listing the
	// first stale reads of the point (StaleFile of its id): when each began,
	// the writes acknowledged before it and the payloads it saw. Empty when
	// the point had no stale read.
	StaleFile string
	// Snapshots in the measured window, summed over the cluster's nodes
	// (the growth of their adapter.Status counters from the window's start
	// to its end): snapshots the nodes took of their state machines,
	// snapshots followers installed from a leader, and the milliseconds
	// spent taking them (what each backend measures: docs/backends.md).
	// Zero in rows of older files.
	Snapshots        uint64
	SnapshotInstalls uint64
	SnapshotMs       float64
}

// ReadsHdrPoint is the name under which a point's read latencies are
// logged (HdrFile): its id with "/reads" appended, which no point id ends
// with.
func ReadsHdrPoint(point string) string { return point + "/reads" }

// Reads reports whether the row measured reads.
func (r *Row) Reads() bool { return r.ReadRatio > 0 }

// PayloadSpec is the row's payload sizes: Payload, or PayloadBytes in
// rows of files written before distributions existed.
func (r Row) PayloadSpec() string {
	if r.Payload != "" {
		return r.Payload
	}
	return strconv.Itoa(r.PayloadBytes)
}

// Thresholds above which a point is flagged as disturbed by its host
// (Row.Interfered).
const (
	// OutsideCPULimit is in CPU-seconds per second: a fifth of a core
	// busy with other work is a tenth of a 2-core machine, more than the
	// CPU a 3-node cluster's followers need at low load, and large enough
	// that scheduling noise (a shell, a monitoring agent) stays below it.
	OutsideCPULimit = 0.2
	// StealLimit is a share of all CPU time: above 5% the hypervisor took
	// enough from the guest to move latency tails, by the usual rule of
	// thumb for cloud VMs.
	StealLimit = 0.05
)

// Interfered reports whether something outside the experiment took CPU
// from it during the window: OutsideCPU above OutsideCPULimit or
// HostSteal above StealLimit. False when neither was measured.
func (r Row) Interfered() bool {
	return (r.OutsideCPU != nil && *r.OutsideCPU > OutsideCPULimit) || (r.HostSteal != nil && *r.HostSteal > StealLimit)
}

// CanonicalPoint returns a recorded point id, IMPL/FAULT/tTHREADS/rREPEAT,
// with its fault name canonical (faultspec.CanonicalName), so that the ids
// an older build recorded, which left a fault's defaults out, match the
// ids of today's points when a run is resumed. Anything else is returned
// unchanged.
func CanonicalPoint(id string) string {
	parts := strings.Split(id, "/")
	if len(parts) < 4 {
		return id
	}
	n := len(parts)
	// A swept cluster size (n5) and rate (q1000) come before the threads.
	axes := n - 2
	for axes > 2 && sweptAxis.MatchString(parts[axes-1]) {
		axes--
	}
	fault := faultspec.CanonicalName(strings.Join(parts[1:axes], "/"))
	return strings.Join(slices.Concat(parts[:1], []string{fault}, parts[axes:]), "/")
}

// sweptAxis is a point id's segment for a swept cluster size or rate.
var sweptAxis = regexp.MustCompile(`^(n[0-9]+|q[0-9.]+)$`)

// resultColumns is results.csv's schema: each column's name, its Row
// field and how that is written and read, in file order. Adding a column
// is a Row field and one entry at the end here (and a line in
// docs/results-format.md); renaming, removing or reordering one is not
// compatible.
var resultColumns = []column[Row]{
	textColumn("point", func(r *Row) *string { return &r.Point }),
	textColumn("impl", func(r *Row) *string { return &r.Impl }),
	textColumn("impl_module", func(r *Row) *string { return &r.ImplModule }),
	textColumn("impl_version", func(r *Row) *string { return &r.ImplVersion }),
	intColumn("nodes", func(r *Row) *int { return &r.Nodes }),
	textColumn("storage", func(r *Row) *string { return &r.Storage }),
	textColumn("data_fs", func(r *Row) *string { return &r.DataFS }),
	textColumn("client", func(r *Row) *string { return &r.Client }),
	textColumn("loop", func(r *Row) *string { return &r.Loop }),
	textColumn("fault", func(r *Row) *string { return &r.Fault }),
	intColumn("threads", func(r *Row) *int { return &r.Threads }),
	floatColumn("rate_ops", -1, func(r *Row) *float64 { return &r.RateOps }),
	intColumn("payload_bytes", func(r *Row) *int { return &r.PayloadBytes }),
	floatColumn("warmup_s", -1, func(r *Row) *float64 { return &r.WarmupS }),
	floatColumn("duration_s", -1, func(r *Row) *float64 { return &r.DurationS }),
	intColumn("repeat", func(r *Row) *int { return &r.Repeat }),
	oneOf(textColumn("status", func(r *Row) *string { return &r.Status }), StatusOK, StatusFailed, StatusUnsupported),
	textColumn("error", func(r *Row) *string { return &r.Error }),
	uintColumn("ops", func(r *Row) *uint64 { return &r.Ops }),
	floatColumn("throughput_ops", 1, func(r *Row) *float64 { return &r.ThroughputOps }),
	floatColumn("lat_avg_us", 1, func(r *Row) *float64 { return &r.LatAvgUs }),
	intColumn("lat_p50_us", func(r *Row) *int64 { return &r.LatP50Us }),
	intColumn("lat_p90_us", func(r *Row) *int64 { return &r.LatP90Us }),
	intColumn("lat_p99_us", func(r *Row) *int64 { return &r.LatP99Us }),
	intColumn("lat_p999_us", func(r *Row) *int64 { return &r.LatP999Us }),
	intColumn("lat_max_us", func(r *Row) *int64 { return &r.LatMaxUs }),
	uintColumn("errors", func(r *Row) *uint64 { return &r.Errors }),
	uintColumn("errors_not_leader", func(r *Row) *uint64 { return &r.ErrNotLeader }),
	uintColumn("errors_timeout", func(r *Row) *uint64 { return &r.ErrTimeout }),
	uintColumn("errors_other", func(r *Row) *uint64 { return &r.ErrOther }),
	uintColumn("acked", func(r *Row) *uint64 { return &r.Acked }),
	uintColumn("applied_payloads", func(r *Row) *uint64 { return &r.AppliedPayl }),
	uintColumn("applied_index", func(r *Row) *uint64 { return &r.AppliedIndex }),
	uintColumn("leader_id", func(r *Row) *uint64 { return &r.LeaderID }),
	intColumn("leader_pid", func(r *Row) *int { return &r.LeaderPID }),
	timeColumn("started_at", func(r *Row) *time.Time { return &r.Started }),
	floatColumn("wall_s", 3, func(r *Row) *float64 { return &r.WallS }),
	textColumn("fault_targets", func(r *Row) *string { return &r.FaultTargets }),
	textColumn("fault_effect", func(r *Row) *string { return &r.FaultEffect }),
	boolColumn("proxied", func(r *Row) *bool { return &r.Proxied }),
	intColumn("gomaxprocs", func(r *Row) *int { return &r.GOMAXPROCS }),
	// The first published schema ended here: every results.csv has the
	// columns above. Those below may be missing from older files.
	floatColumn("converge_s", 3, func(r *Row) *float64 { return &r.ConvergeS }),
	floatColumn("cpu_us_per_op", 2, func(r *Row) *float64 { return &r.CPUUsPerOp }),
	floatColumn("leader_cpu_us_per_op", 2, func(r *Row) *float64 { return &r.LeaderCPUUsPerOp }),
	floatColumn("write_bytes_per_op", 1, func(r *Row) *float64 { return &r.WriteBytesPerOp }),
	floatColumn("net_bytes_per_op", 1, func(r *Row) *float64 { return &r.NetBytesPerOp }),
	uintColumn("peak_rss_bytes", func(r *Row) *uint64 { return &r.PeakRSSBytes }),
	textColumn("node_cpu_s", func(r *Row) *string { return &r.NodeCPUS }),
	intColumn("leader_changes", func(r *Row) *int { return &r.LeaderChanges }),
	textColumn("leader_change_s", func(r *Row) *string { return &r.LeaderChangeS }),
	uintColumn("redirects", func(r *Row) *uint64 { return &r.Redirects }),
	uintColumn("issued", func(r *Row) *uint64 { return &r.Issued }),
	uintColumn("queued", func(r *Row) *uint64 { return &r.Queued }),
	floatColumn("queued_s", 3, func(r *Row) *float64 { return &r.QueuedS }),
	uintColumn("unsent", func(r *Row) *uint64 { return &r.Unsent }),
	textColumn("node_hosts", func(r *Row) *string { return &r.NodeHosts }),
	textColumn("node_cpus", func(r *Row) *string { return &r.NodeCPUs }),
	textColumn("placement", func(r *Row) *string { return &r.Placement }),
	textColumn("client_path", func(r *Row) *string { return &r.ClientPath }),
	optFloatColumn("host_cpu_util", 4, func(r *Row) **float64 { return &r.HostCPUUtil }),
	optFloatColumn("host_steal", 4, func(r *Row) **float64 { return &r.HostSteal }),
	optFloatColumn("outside_cpu", 3, func(r *Row) **float64 { return &r.OutsideCPU }),
	optFloatColumn("cpu_pressure", 4, func(r *Row) **float64 { return &r.CPUPressure }),
	optFloatColumn("procs_running", 2, func(r *Row) **float64 { return &r.ProcsRunning }),
	textColumn("raft_profile", func(r *Row) *string { return &r.RaftProfile }),
	textColumn("raft_applied", func(r *Row) *string { return &r.RaftApplied }),
	textColumn("raft_unhonoured", func(r *Row) *string { return &r.RaftUnhonoured }),
	textColumn("hdr_file", func(r *Row) *string { return &r.HdrFile }),
	textColumn("payload", func(r *Row) *string { return &r.Payload }),
	floatColumn("payload_mean_bytes", 1, func(r *Row) *float64 { return &r.PayloadMeanBytes }),
	floatColumn("read_ratio", 3, func(r *Row) *float64 { return &r.ReadRatio }),
	textColumn("read_mode", func(r *Row) *string { return &r.ReadMode }),
	textColumn("read_from", func(r *Row) *string { return &r.ReadFrom }),
	uintColumn("read_ops", func(r *Row) *uint64 { return &r.ReadOps }),
	floatColumn("read_throughput_ops", 1, func(r *Row) *float64 { return &r.ReadThroughputOps }),
	intColumn("read_lat_p50_us", func(r *Row) *int64 { return &r.ReadLatP50Us }),
	intColumn("read_lat_p90_us", func(r *Row) *int64 { return &r.ReadLatP90Us }),
	intColumn("read_lat_p99_us", func(r *Row) *int64 { return &r.ReadLatP99Us }),
	intColumn("read_lat_p999_us", func(r *Row) *int64 { return &r.ReadLatP999Us }),
	intColumn("read_lat_max_us", func(r *Row) *int64 { return &r.ReadLatMaxUs }),
	uintColumn("read_errors", func(r *Row) *uint64 { return &r.ReadErrors }),
	uintColumn("stale_reads", func(r *Row) *uint64 { return &r.StaleReads }),
	textColumn("read_hdr_file", func(r *Row) *string { return &r.ReadHdrFile }),
	uintColumn("read_issued", func(r *Row) *uint64 { return &r.ReadIssued }),
	uintColumn("read_queued", func(r *Row) *uint64 { return &r.ReadQueued }),
	floatColumn("read_queued_s", 3, func(r *Row) *float64 { return &r.ReadQueuedS }),
	uintColumn("read_unsent", func(r *Row) *uint64 { return &r.ReadUnsent }),
	textColumn("stale_file", func(r *Row) *string { return &r.StaleFile }),
	uintColumn("snapshots", func(r *Row) *uint64 { return &r.Snapshots }),
	uintColumn("snapshot_installs", func(r *Row) *uint64 { return &r.SnapshotInstalls }),
	floatColumn("snapshot_ms", 1, func(r *Row) *float64 { return &r.SnapshotMs }),
}

// requiredColumns is how many of resultColumns every results.csv has: the
// first published schema ended with gomaxprocs.
var requiredColumns = slices.IndexFunc(resultColumns, func(c column[Row]) bool { return c.name == "gomaxprocs" }) + 1

var resultsSchema = schema[Row]{columns: resultColumns, required: requiredColumns}

// Columns is the header of results.csv, in order. Adding a column at the end
// is compatible; renaming or removing one is not.
var Columns = resultsSchema.header()

func (r Row) record() []string { return resultsSchema.record(&r) }

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
	// ReadOps and ReadP99Us are the interval's reads and their p99 (µs)
	// when the point read (Row.Reads); Ops and the figures above are then
	// the writes'. 0 without reads and in older files.
	ReadOps   uint64
	ReadP99Us int64
}

// seriesColumns is timeseries.csv's schema, as resultColumns is
// results.csv's.
var seriesColumns = []column[Sample]{
	textColumn("point", func(s *Sample) *string { return &s.Point }),
	textColumn("impl", func(s *Sample) *string { return &s.Impl }),
	intColumn("threads", func(s *Sample) *int { return &s.Threads }),
	intColumn("repeat", func(s *Sample) *int { return &s.Repeat }),
	floatColumn("t_s", -1, func(s *Sample) *float64 { return &s.TS }),
	uintColumn("ops", func(s *Sample) *uint64 { return &s.Ops }),
	uintColumn("errors", func(s *Sample) *uint64 { return &s.Errors }),
	floatColumn("throughput_ops", 1, func(s *Sample) *float64 { return &s.ThroughputOps }),
	intColumn("p50_us", func(s *Sample) *int64 { return &s.P50Us }),
	intColumn("p99_us", func(s *Sample) *int64 { return &s.P99Us }),
	uintColumn("read_ops", func(s *Sample) *uint64 { return &s.ReadOps }),
	intColumn("read_p99_us", func(s *Sample) *int64 { return &s.ReadP99Us }),
}

// seriesRequired is how many of seriesColumns every timeseries.csv has:
// the first published schema ended with p99_us.
var seriesRequired = slices.IndexFunc(seriesColumns, func(c column[Sample]) bool { return c.name == "p99_us" }) + 1

var seriesSchema = schema[Sample]{columns: seriesColumns, required: seriesRequired}

// SeriesColumns is the header of timeseries.csv.
var SeriesColumns = seriesSchema.header()

func (s Sample) record() []string { return seriesSchema.record(&s) }

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

// NewWriter opens (creating or appending to) the CSV files in dir. Files
// an older raftcmp wrote (a resumed run) first get the columns added since,
// with zero values, so that every record has the header's width.
func NewWriter(dir string) (*Writer, error) {
	if err := errors.Join(resultsSchema.upgrade(dir+"/"+ResultsFile), seriesSchema.upgrade(dir+"/"+TimeseriesFile)); err != nil {
		return nil, err
	}
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

// ReadResults reads a results.csv, also one written by an older raftcmp
// (without the columns added since). Errors name the file and line.
func ReadResults(path string) ([]Row, error) {
	return resultsSchema.read(path)
}

// ReadTimeseries reads a timeseries.csv. Errors name the file and line.
func ReadTimeseries(path string) ([]Sample, error) {
	return seriesSchema.read(path)
}
