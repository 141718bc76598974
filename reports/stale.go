package reports

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// StaleDir is the directory of a results directory that holds, for each
// point with stale reads, the first of them (StaleFile).
const StaleDir = "stale"

// StaleRead is one read that missed a write acknowledged before it began,
// as a point's stale-read file lists it.
type StaleRead struct {
	// AtS is when the read began, in seconds from the start of the
	// measured window: negative for a read that began in the warm-up and
	// was answered in the window (reads are counted where they complete).
	AtS float64
	// Acked is how many payloads had been acknowledged before the read
	// began (the highest acknowledged position); Applied is how many the
	// read saw applied.
	Acked, Applied uint64
}

// StaleColumns is the header of a stale-read file.
var StaleColumns = []string{"point", "read_mode", "read_from", "at_s", "acknowledged", "applied", "missed"}

// StaleFile returns the path, relative to the results directory and with
// forward slashes, of point's stale-read file: stale/NAME.csv, NAME the
// point id escaped as HdrFile escapes it.
func StaleFile(point string) string {
	name := strings.TrimSuffix(strings.TrimPrefix(HdrFile(point), HdrDir+"/"), hdrExt)
	return StaleDir + "/" + name + ".csv"
}

// WriteStaleReads writes point's stale-read file into the results
// directory dir (at StaleFile(point), replacing any), synced to disk, and
// returns its relative path: a CSV file (StaleColumns) with a line per
// example, in the order they were found; missed is acknowledged − applied,
// the acknowledged writes the read did not reflect. mode and from are the
// point's read mode and where it read from.
func WriteStaleReads(dir, point, mode, from string, examples []StaleRead) (string, error) {
	rel := StaleFile(point)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(StaleColumns)
	for _, ex := range examples {
		w.Write([]string{point, mode, from, strconv.FormatFloat(ex.AtS, 'f', 6, 64),
			strconv.FormatUint(ex.Acked, 10), strconv.FormatUint(ex.Applied, 10), strconv.FormatUint(ex.Acked-ex.Applied, 10)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return "", fmt.Errorf("stale reads of %s: %w", point, err)
	}
	path := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("stale reads of %s: %w", point, err)
	}
	if err := writeFileSynced(path, buf.Bytes()); err != nil {
		return "", err
	}
	return rel, nil
}

// ReadStaleReads reads a stale-read file WriteStaleReads wrote. Errors
// name the file and line.
func ReadStaleReads(path string) ([]StaleRead, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(StaleColumns, ",") {
		return nil, fmt.Errorf("%s: header is not %s", path, strings.Join(StaleColumns, ","))
	}
	var out []StaleRead
	for i, rec := range recs[1:] {
		at, err1 := strconv.ParseFloat(rec[3], 64)
		acked, err2 := strconv.ParseUint(rec[4], 10, 64)
		applied, err3 := strconv.ParseUint(rec[5], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+2, err)
		}
		out = append(out, StaleRead{AtS: at, Acked: acked, Applied: applied})
	}
	return out, nil
}
