package reports

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A stale-read file is named after its point like its histogram log, and
// reads back as written.
func TestStaleReadsFile(t *testing.T) {
	dir := t.TempDir()
	point := "etcd/cpu-slow:follower,quota=5%/t8/r2"
	exs := []StaleRead{{AtS: 0.25, Acked: 120, Applied: 117}, {AtS: 1.5, Acked: 900, Applied: 0}}
	rel, err := WriteStaleReads(dir, point, "stale", "followers", exs)
	if err != nil {
		t.Fatal(err)
	}
	if want := "stale/etcd+cpu-slow%3Afollower,quota=5%25+t8+r2.csv"; rel != want || StaleFile(point) != want {
		t.Fatalf("file %q (StaleFile %q), want %q", rel, StaleFile(point), want)
	}
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + point + `",stale,followers,1.500000,900,0,900` + "\n"; !strings.HasSuffix(string(b), want) {
		t.Errorf("file ends\n%s\nwant a last line %q", b, want)
	}
	got, err := ReadStaleReads(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(exs) || got[0] != exs[0] || got[1] != exs[1] {
		t.Errorf("read back %+v, want %+v", got, exs)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("point,at\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStaleReads(filepath.Join(dir, "bad.csv")); err == nil || !strings.Contains(err.Error(), "bad.csv") {
		t.Errorf("a file with another header: %v, want an error naming it", err)
	}
}

// An overwritten run must not keep an older run's per-point evidence: the
// new rows name their own hdr/ and stale/ files, and stray ones beside them
// would pass for the new run's.
func TestRemoveResultsRemovesPerPointFiles(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "notes.txt")
	for _, f := range []string{ResultsFile, filepath.Join(HdrDir, "a.hlog"), filepath.Join(StaleDir, "a.csv"), filepath.Join("logs", "x.log"), "notes.txt"} {
		path := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveResults(dir); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{ResultsFile, HdrDir, StaleDir, "logs"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s still there after RemoveResults (err %v)", gone, err)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("RemoveResults removed a file it does not own: %v", err)
	}
}
