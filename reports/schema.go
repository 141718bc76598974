package reports

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// column is one column of a CSV file whose records are T values: its
// header name, how it is written from a T and how it is read back into
// one. A file's schema is a table of columns (resultColumns,
// seriesColumns); its header, its writer and its reader all follow that
// table, so a column is named, formatted and parsed in one place.
//
// Hand-written rather than a struct-tag CSV library (gocsv and the like):
// results.csv's bytes are a published format (fixed float precision per
// column, RFC 3339 UTC times), older files with fewer columns must read,
// and every error names the file, line and column.
type column[T any] struct {
	name  string
	write func(*T) string
	read  func(*T, string) error
}

// fieldColumn makes a column of the field of T that at points to,
// written by format and read by parse.
func fieldColumn[T, V any](name string, at func(*T) *V, format func(V) string, parse func(string) (V, error)) column[T] {
	return column[T]{
		name:  name,
		write: func(t *T) string { return format(*at(t)) },
		read: func(t *T, s string) error {
			v, err := parse(s)
			if err != nil {
				return err
			}
			*at(t) = v
			return nil
		},
	}
}

// textColumn is a string field, written as is.
func textColumn[T any](name string, at func(*T) *string) column[T] {
	return fieldColumn(name, at, func(v string) string { return v }, func(s string) (string, error) { return s, nil })
}

// intColumn is a signed integer field, in decimal.
func intColumn[T any, I ~int | ~int64](name string, at func(*T) *I) column[T] {
	return fieldColumn(name, at, func(v I) string { return strconv.FormatInt(int64(v), 10) }, func(s string) (I, error) {
		v, err := strconv.ParseInt(s, 10, 64)
		return I(v), err
	})
}

// uintColumn is an unsigned integer field, in decimal.
func uintColumn[T any](name string, at func(*T) *uint64) column[T] {
	return fieldColumn(name, at, func(v uint64) string { return strconv.FormatUint(v, 10) }, func(s string) (uint64, error) {
		return strconv.ParseUint(s, 10, 64)
	})
}

// floatColumn is a float field with prec decimals (-1: as few as
// represent it exactly).
func floatColumn[T any](name string, prec int, at func(*T) *float64) column[T] {
	return fieldColumn(name, at, func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }, func(s string) (float64, error) {
		return strconv.ParseFloat(s, 64)
	})
}

// optFloatColumn is a float field that may be unmeasured: nil is written
// as an empty cell and an empty cell read as nil, so "not measured" (an
// older file, a point that failed, a figure that cannot be taken there)
// stays apart from a measured zero.
func optFloatColumn[T any](name string, prec int, at func(*T) **float64) column[T] {
	return fieldColumn(name, at, func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'f', prec, 64)
	}, func(s string) (*float64, error) {
		if s == "" {
			return nil, nil
		}
		v, err := strconv.ParseFloat(s, 64)
		return &v, err
	})
}

// boolColumn is a bool field, true or false.
func boolColumn[T any](name string, at func(*T) *bool) column[T] {
	return fieldColumn(name, at, strconv.FormatBool, strconv.ParseBool)
}

// timeColumn is a time field in RFC 3339 with nanoseconds, UTC.
func timeColumn[T any](name string, at func(*T) *time.Time) column[T] {
	return fieldColumn(name, at, func(v time.Time) string { return v.UTC().Format(time.RFC3339Nano) }, func(s string) (time.Time, error) {
		return time.Parse(time.RFC3339Nano, s)
	})
}

// oneOf restricts a text column to the allowed values when read.
func oneOf[T any](c column[T], allowed ...string) column[T] {
	read := c.read
	c.read = func(t *T, s string) error {
		for _, a := range allowed {
			if s == a {
				return read(t, s)
			}
		}
		return fmt.Errorf("%q is not %s or %s", s, strings.Join(allowed[:len(allowed)-1], ", "), allowed[len(allowed)-1])
	}
	return c
}

// schema is the columns of one CSV file, in order. Every file has the
// first required of them; those after may be missing from files written
// before they were added, and then read as zero values.
type schema[T any] struct {
	columns  []column[T]
	required int
}

// header is the file's header line.
func (s schema[T]) header() []string {
	names := make([]string, len(s.columns))
	for i, c := range s.columns {
		names[i] = c.name
	}
	return names
}

// record writes v as one CSV record.
func (s schema[T]) record(v *T) []string {
	rec := make([]string, len(s.columns))
	for i, c := range s.columns {
		rec[i] = c.write(v)
	}
	return rec
}

// decode reads one record, whose columns are at index (by header name);
// line is for errors, which name the file, line and column.
func (s schema[T]) decode(rec []string, index map[string]int, path string, line int) (T, error) {
	var v T
	for _, c := range s.columns {
		i, ok := index[c.name]
		if !ok || i >= len(rec) {
			continue // a column added after the file was written
		}
		if err := c.read(&v, rec[i]); err != nil {
			return v, fmt.Errorf("%s:%d: column %s: %w", path, line, c.name, err)
		}
	}
	return v, nil
}

// read reads a CSV file of this schema. Columns are found by header name;
// the header must hold the required ones. Errors name the file and line.
func (s schema[T]) read(path string) ([]T, error) {
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
	index := map[string]int{}
	for i, h := range header {
		index[h] = i
	}
	for _, c := range s.columns[:s.required] {
		if _, ok := index[c.name]; !ok {
			return nil, fmt.Errorf("%s:1: header lacks column %q", path, c.name)
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
		v, err := s.decode(rec, index, path, line)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// upgrade rewrites the file at path, if it was written with an older
// header of this schema (fewer columns, a prefix of today's), to today's
// header, giving every record the added columns' zero values, so that
// records of today's width can be appended to it (a resumed run). A file
// that does not exist, is empty or has today's header is left alone; one
// whose header is not a prefix of today's (a newer raftcmp's) is refused.
func (s schema[T]) upgrade(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		return csvError(path, err)
	}
	want := s.header()
	if len(recs) == 0 || slices.Equal(recs[0], want) {
		return nil
	}
	if len(recs[0]) > len(want) || !slices.Equal(recs[0], want[:len(recs[0])]) {
		return fmt.Errorf("%s:1: header is not a former version of this raftcmp's (%d columns, want a prefix of its %d): cannot append to it", path, len(recs[0]), len(want))
	}
	added := s.record(new(T))[len(recs[0]):]
	recs[0] = want
	for i := 1; i < len(recs); i++ {
		recs[i] = append(recs[i], added...)
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(recs); err != nil {
		return fmt.Errorf("upgrade %s: %w", path, err)
	}
	return writeFileAtomic(path, b.Bytes())
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
