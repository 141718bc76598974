package reports

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every field of Row and Sample is in exactly one column of its table,
// and reads back from it unchanged: a field added without its table entry
// (which would silently not be recorded) fails here.
func TestSchemaCoversEveryField(t *testing.T) {
	checkSchema(t, resultsSchema, Row{Status: StatusOK})
	checkSchema(t, seriesSchema, Sample{})
}

func checkSchema[T any](t *testing.T, s schema[T], base T) {
	t.Helper()
	header := s.header()
	index := map[string]int{}
	for i, name := range header {
		if _, dup := index[name]; dup {
			t.Errorf("column %s is in the table twice", name)
		}
		index[name] = i
	}
	zero := s.record(&base)
	fieldsOf := make([][]string, len(s.columns))
	typ := reflect.TypeFor[T]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		v := base
		setDistinct(t, reflect.ValueOf(&v).Elem().Field(i), f.Name)
		rec := s.record(&v)
		var cols []string
		for j := range rec {
			if rec[j] != zero[j] {
				cols = append(cols, header[j])
				fieldsOf[j] = append(fieldsOf[j], f.Name)
			}
		}
		if len(cols) != 1 {
			t.Errorf("%s.%s is written to columns %v, want exactly one", typ.Name(), f.Name, cols)
			continue
		}
		got, err := s.decode(rec, index, "x.csv", 2)
		if err != nil {
			t.Errorf("%s.%s: %v", typ.Name(), f.Name, err)
		} else if !reflect.DeepEqual(got, v) {
			t.Errorf("%s.%s does not read back from column %s:\n got %+v\nwant %+v", typ.Name(), f.Name, cols[0], got, v)
		}
	}
	for j, fs := range fieldsOf {
		if len(fs) != 1 {
			t.Errorf("column %s holds fields %v, want one", header[j], fs)
		}
	}
}

// setDistinct gives a field a value other than its zero that every
// column format writes exactly (a string that is also a valid status).
func setDistinct(t *testing.T, f reflect.Value, name string) {
	t.Helper()
	switch f.Interface().(type) {
	case string:
		f.SetString(StatusFailed)
	case int, int64:
		f.SetInt(-7)
	case uint64:
		f.SetUint(7)
	case float64:
		f.SetFloat(7.5)
	case *float64:
		v := 7.5
		f.Set(reflect.ValueOf(&v))
	case bool:
		f.SetBool(true)
	case time.Time:
		f.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)))
	default:
		t.Fatalf("field %s: type %s has no column format; add one to schema.go", name, f.Type())
	}
}

// The header is the table's names; the columns every file must have are
// those of the first published schema, which ended with gomaxprocs.
func TestResultsHeader(t *testing.T) {
	if len(Columns) != len(resultColumns) || Columns[0] != "point" || Columns[len(Columns)-1] != "snapshot_ms" {
		t.Errorf("Columns = %v", Columns)
	}
	if requiredColumns != 41 || Columns[requiredColumns-1] != "gomaxprocs" {
		t.Errorf("requiredColumns = %d (%s), want 41 ending with gomaxprocs", requiredColumns, Columns[requiredColumns-1])
	}
	if want := []string{"point", "impl", "threads", "repeat", "t_s", "ops", "errors", "throughput_ops", "p50_us", "p99_us", "read_ops", "read_p99_us"}; !slices.Equal(SeriesColumns, want) {
		t.Errorf("SeriesColumns = %v, want %v", SeriesColumns, want)
	}
}

// A results.csv from an older raftcmp (first schema, fewer columns) and
// one from a newer raftcmp (a column this build does not know) both read.
func TestReadResultsOlderAndNewerFiles(t *testing.T) {
	r := sampleRow("etcd", 2, StatusOK)
	r.ConvergeS, r.Issued = 1.25, 99
	older, newer := r, r
	older.ConvergeS, older.Issued = 0, 0 // not in the older file: read as zero
	rec := r.record()
	tests := []struct {
		name, content string
		want          Row
	}{
		{"older", strings.Join(Columns[:requiredColumns], ",") + "\n" + csvLine(slices.Clone(rec[:requiredColumns])), older},
		{"newer", strings.Join(append(slices.Clone(Columns), "future_col"), ",") + "\n" + csvLine(append(slices.Clone(rec), "42")), newer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ResultsFile)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			rows, err := ReadResults(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || rows[0] != tc.want {
				t.Errorf("read %+v\nwant %+v", rows, tc.want)
			}
		})
	}
}
