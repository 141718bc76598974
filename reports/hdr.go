package reports

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// HdrDir is the directory of a results directory that holds each ok
// point's latency histograms, one HdrHistogram interval log per point
// (HdrFile).
const HdrDir = "hdr"

// hdrExt is the extension of a histogram log, as HdrHistogram's tools name
// them.
const hdrExt = ".hlog"

// HdrFile returns the path, relative to the results directory and with
// forward slashes, of point's histogram log: hdr/NAME.hlog, where NAME is
// the point id with every byte other than an ASCII letter, a digit, '.',
// '_', '-', '=' and ',' written %XX (two upper-case hex digits), except
// '/', written '+' ('+' itself is %2B). So
// etcd/cpu-slow:follower,period=1s,quota=5%/t8/r2 is
// hdr/etcd+cpu-slow%3Afollower,period=1s,quota=5%25+t8+r2.hlog. The
// mapping is reversible (HdrPoint), so two points never share a file, and
// the name needs no quoting in a shell and is valid on every common file
// system.
func HdrFile(point string) string {
	var b strings.Builder
	b.WriteString(HdrDir + "/")
	for i := 0; i < len(point); i++ {
		c := point[i]
		switch {
		case c == '/':
			b.WriteByte('+')
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("._-=,", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	b.WriteString(hdrExt)
	return b.String()
}

// HdrPoint returns the point id whose histogram log is named file (a path
// or a bare name, as HdrFile makes them): the inverse of HdrFile.
func HdrPoint(file string) (string, error) {
	name, ok := strings.CutSuffix(filepath.Base(file), hdrExt)
	if !ok {
		return "", fmt.Errorf("%s: not a histogram log (want NAME%s)", file, hdrExt)
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '+':
			b.WriteByte('/')
		case '%':
			var v byte
			if i+2 >= len(name) {
				return "", fmt.Errorf("%s: truncated %%XX escape", file)
			}
			if _, err := fmt.Sscanf(name[i+1:i+3], "%02X", &v); err != nil {
				return "", fmt.Errorf("%s: bad %%XX escape %q", file, name[i:i+3])
			}
			b.WriteByte(v)
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// HdrInterval is one interval of a point's histogram log: where it starts
// and how long it is, from the start of the measured window, and the
// latencies (µs) of the proposals that completed in it.
type HdrInterval struct {
	Start, Length time.Duration
	Histogram     *hdrhistogram.PackedHistogram
}

// WriteHdrLog writes point's histogram log into the results directory dir
// (at HdrFile(point), replacing any), synced to disk before it returns,
// and returns its relative path. windowStart is when the measured window
// began: the log's StartTime and BaseTime, to which the intervals' start
// timestamps are relative. It sets each interval histogram's start and end
// time stamps.
//
// The file is an HdrHistogram interval log (format 1.3), as Java's
// HistogramLogWriter writes it: values are microseconds; each interval
// line's max column is in seconds (the value divided by 10⁶, the Go
// writer's fixed ratio).
func WriteHdrLog(dir, point string, windowStart time.Time, intervals []HdrInterval) (string, error) {
	rel := HdrFile(point)
	var buf bytes.Buffer
	lw := hdrhistogram.NewHistogramLogWriter(&buf)
	base := windowStart.UnixMilli()
	lw.SetBaseTime(base)
	// StartTime and BaseTime with milliseconds, as Java writes them (the Go
	// writer's own header lines keep whole seconds only).
	secs := float64(base) / 1000
	errs := []error{
		lw.OutputComment("[raftcmp point " + point + "; latencies in microseconds; intervals from the start of the measured window]"),
		lw.OutputLogFormatVersion(),
		lw.OutputComment(fmt.Sprintf("[StartTime: %.3f (seconds since epoch), %s]", secs, time.UnixMilli(base).UTC().Format(time.RFC3339Nano))),
		lw.OutputComment(fmt.Sprintf("[BaseTime: %.3f (seconds since epoch)]", secs)),
		lw.OutputLegend(),
	}
	for _, iv := range intervals {
		iv.Histogram.SetStartTimeMs(base + iv.Start.Milliseconds())
		iv.Histogram.SetEndTimeMs(base + (iv.Start + iv.Length).Milliseconds())
		errs = append(errs, lw.OutputIntervalPackedHistogram(iv.Histogram))
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("histogram log of %s: %w", point, err)
	}
	path := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("histogram log of %s: %w", point, err)
	}
	if err := writeFileSynced(path, buf.Bytes()); err != nil {
		return "", err
	}
	return rel, nil
}

// writeFileSynced writes path atomically (a temporary file renamed over
// it) and durably (the file synced before the rename).
func writeFileSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadHdrLog reads a histogram log with HdrHistogram's own log reader and
// returns its intervals added up: the distribution of the whole measured
// window. Errors name the file.
func ReadHdrLog(path string) (*hdrhistogram.Histogram, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lr := hdrhistogram.NewHistogramLogReader(bytes.NewReader(b))
	var sum *hdrhistogram.Histogram
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if h == nil {
			break
		}
		if sum == nil {
			sum = h
			continue
		}
		if dropped := sum.Merge(h); dropped > 0 {
			return nil, fmt.Errorf("%s: intervals of different geometries (%d values out of range)", path, dropped)
		}
	}
	if sum == nil {
		return nil, fmt.Errorf("%s: no interval histogram", path)
	}
	return sum, nil
}

// ReadHdrLogs reads the histogram logs of every ok row of dir's results
// that names them, by point id: the writes' (Row.HdrFile) under the
// point's id, each checked to hold the row's ops, and the reads'
// (Row.ReadHdrFile) under ReadsHdrPoint of it, each checked to hold the
// row's read_ops. A log that is missing, unreadable or does not match its
// row is an error naming the point and the log: the report would
// otherwise mix pooled and unpooled figures without saying why.
func ReadHdrLogs(dir string, rows []Row) (map[string]*hdrhistogram.PackedHistogram, error) {
	out := map[string]*hdrhistogram.PackedHistogram{}
	for _, r := range rows {
		if r.Status != StatusOK {
			continue
		}
		for _, l := range []struct {
			key, file, what string
			count           uint64
		}{
			{r.Point, r.HdrFile, "ops", r.Ops},
			{ReadsHdrPoint(r.Point), r.ReadHdrFile, "read_ops", r.ReadOps},
		} {
			if l.file == "" {
				continue
			}
			h, err := ReadHdrLog(filepath.Join(dir, filepath.FromSlash(l.file)))
			if err != nil {
				return nil, fmt.Errorf("histogram log of point %s: %w", r.Point, err)
			}
			if uint64(h.TotalCount()) != l.count {
				return nil, fmt.Errorf("histogram log of point %s: %s holds %d latencies, its row %d %s", r.Point, l.file, h.TotalCount(), l.count, l.what)
			}
			// Kept sparse: a report may read thousands of points.
			p := hdrhistogram.NewPacked(h.LowestTrackableValue(), h.HighestTrackableValue(), int(h.SignificantFigures()))
			p.MergeFrom(h)
			out[l.key] = p
		}
	}
	return out, nil
}
