package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
)

// What no backend of the run can do is refused before anything starts: one
// line naming --impl, what is allowed and a way out, status 2, no results
// directory.
func TestRefusedBeforeStart(t *testing.T) {
	dir := pluginDir(t)
	adaptertest.BuildBackend(t, "noop") // beside hashicorp
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"empty impl", []string{"--impl", ""}, `--impl "": name at least one backend (found: `},
		{"blank impl list", []string{"--impl", " , "}, `--impl " , ": name at least one backend`},
		{"noop with the defaults", []string{"--impl", "noop"}, "--impl noop: supports storage memory only and 1 node; try --storage memory --nodes 1"},
		{"noop with one node on disk", []string{"--impl", "noop", "--nodes", "1"}, "--impl noop: supports storage memory only; try --storage memory"},
		{"noop beside hashicorp", []string{"--impl", "hashicorp,noop", "--storage", "memory"}, "--impl noop: supports 1 node; try --nodes 1, or --impl hashicorp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, stdout, stderr := raftcmp(t, append([]string{"run", "--plugin-dir", dir, "--out", out}, tc.args...)...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != exitUsage || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and one line containing %q", code, stderr, exitUsage, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("refused input created %s", out)
			}
		})
	}
}

// A run in which no point ran fails, naming each reason once, however many
// points it stopped.
func TestNoPointRan(t *testing.T) {
	dir := pluginDir(t)
	code, _, stderr := raftcmp(t, "run", "--plugin-dir", dir, "--impl", "hashicorp", "--opt", "hashicorp.no_such_option=1",
		"--threads", "1,2", "--duration", "200ms", "--warmup", "0s", "--interval", "100ms", "--storage", "memory", "--out", filepath.Join(t.TempDir(), "out"))
	if code != exitFailedPoints {
		t.Errorf("exit %d, want %d", code, exitFailedPoints)
	}
	_, summary, ok := strings.Cut(stderr, "raftcmp: no point ran: 2 of 2 failed or unsupported, for these reasons:\n")
	if !ok {
		t.Fatalf("stderr lacks the summary:\n%s", stderr)
	}
	lines := strings.Split(strings.TrimSpace(summary), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "failed: ") || !strings.Contains(lines[0], "unknown option no_such_option") || !strings.HasSuffix(lines[0], "(2 points)") {
		t.Errorf("reasons %q: want one line, the option's failure, 2 points", lines)
	}
}

// copyPlugin copies the binary src into dir as backend name.
func copyPlugin(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, cluster.PluginPrefix+name)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// listRow returns list's row of backend name.
func listRow(t *testing.T, stdout, name string) string {
	t.Helper()
	for _, l := range strings.Split(stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return l
		}
	}
	t.Fatalf("list shows no %s:\n%s", name, stdout)
	return ""
}

// list checks every plugin as run does: a tampered or unlisted plugin is
// shown refused with the reason and is not started (had it been, its row
// would name the library it links); --insecure-plugin admits one by path.
func TestListVerifies(t *testing.T) {
	src := adaptertest.BuildBackend(t, "hashicorp").Path
	dir := t.TempDir()
	copyPlugin(t, src, dir, "hashicorp")
	tampered := copyPlugin(t, src, dir, "tampered")
	if err := cluster.WriteManifest(dir); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(tampered, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("tampered"))
	f.Close()
	unlisted := copyPlugin(t, src, dir, "unlisted")

	code, stdout, stderr := raftcmp(t, "list", "--plugin-dir", dir)
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, stderr)
	}
	const library = "github.com/hashicorp/raft"
	for _, tc := range []struct{ name, want string }{
		{"hashicorp", library},
		{"tampered", "does not match"},
		{"unlisted", "not listed in " + filepath.Join(dir, cluster.ManifestFile)},
	} {
		row := listRow(t, stdout, tc.name)
		if !strings.Contains(row, tc.want) {
			t.Errorf("row %q: want %q", row, tc.want)
		}
		if tc.name != "hashicorp" && (strings.Contains(row, library) || !strings.Contains(row, "plugin refused")) {
			t.Errorf("row %q: want refused, not started", row)
		}
	}
	_, stdout, _ = raftcmp(t, "list", "--plugin-dir", dir, "--insecure-plugin", unlisted)
	if row := listRow(t, stdout, "unlisted"); !strings.Contains(row, library) {
		t.Errorf("with --insecure-plugin: row %q, want it described", row)
	}
}

// An out-of-tree plugin, built in a module of its own as its author would,
// runs in both ways docs/writing-an-adapter.md gives: unchecked, named
// with --insecure-plugin, while developing; and checked against a
// plugins.sha256 written with sha256sum beside it.
func TestOutOfTreePlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module and runs real clusters; skipped in -short")
	}
	bin := buildOutOfTree(t)
	plugin := filepath.Join(bin, cluster.PluginPrefix+"mylib")
	conformance := []string{"conformance", "--plugin", plugin, "--check", "describes-itself", "--check", "leader-elected"}

	// Unchecked: refused, saying how to proceed.
	_, stdout, _ := raftcmp(t, "list", "--plugin-dir", bin)
	if row := listRow(t, stdout, "mylib"); !strings.Contains(row, "no checksum manifest") {
		t.Errorf("list without a manifest: row %q, want a refusal", row)
	}
	if code, _, stderr := raftcmp(t, conformance...); code != exitUsage || !strings.Contains(stderr, "--insecure-plugin "+plugin) {
		t.Errorf("conformance without a manifest: exit %d, %q; want a refusal naming --insecure-plugin", code, stderr)
	}

	// Developing: --insecure-plugin PATH, in list and conformance alike.
	_, stdout, _ = raftcmp(t, "list", "--plugin-dir", bin, "--insecure-plugin", plugin)
	if row := listRow(t, stdout, "mylib"); !strings.Contains(row, "github.com/hashicorp/raft") {
		t.Errorf("list --insecure-plugin: row %q, want it described", row)
	}
	checkConformance(t, append(conformance, "--insecure-plugin", plugin)...)

	// Released: a manifest written by sha256sum.
	sum := exec.Command("sh", "-c", "sha256sum "+cluster.PluginPrefix+"* > "+cluster.ManifestFile)
	sum.Dir = bin
	if out, err := sum.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum: %v: %s", err, out)
	}
	_, stdout, _ = raftcmp(t, "list", "--plugin-dir", bin)
	if row := listRow(t, stdout, "mylib"); !strings.Contains(row, "github.com/hashicorp/raft") {
		t.Errorf("list with a manifest: row %q, want it described", row)
	}
	checkConformance(t, conformance...)
	code, _, stderr := raftcmp(t, "run", "--plugin-dir", bin, "--impl", "mylib", "--threads", "1", "--duration", "300ms", "--warmup", "0s",
		"--interval", "100ms", "--storage", "memory", "--out", filepath.Join(t.TempDir(), "out"))
	if code != 0 {
		t.Errorf("run --impl mylib: exit %d: %s", code, stderr)
	}
}

func checkConformance(t *testing.T, args ...string) {
	t.Helper()
	code, stdout, stderr := raftcmp(t, args...)
	if passes := regexp.MustCompile(`(?m)^PASS `).FindAllString(stdout, -1); code != 0 || len(passes) != 2 {
		t.Errorf("%v: exit %d, %d checks passed, want 0 and 2\nstdout:\n%s\nstderr:\n%s", args, code, len(passes), stdout, stderr)
	}
}

// buildOutOfTree writes the module an adapter author would (its own
// go.mod, requiring raftcmp, here replaced by this tree; a main that
// serves an existing Node) outside this tree, builds it, and returns the
// directory holding raftcmp-plugin-mylib.
func buildOutOfTree(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go \S+$`).Find(gomod)
	mod := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/mylib\n\n" + string(goLine) + "\n\nrequire github.com/raftcmp/raftcmp v0.0.0\n\nreplace github.com/raftcmp/raftcmp => " + root + "\n",
		"main.go": `// Command raftcmp-plugin-mylib is an out-of-tree raftcmp backend.
package main

import (
	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/plugins/hashicorp"
)

func main() { adapter.Serve(hashicorp.New()) }
`,
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files["go.sum"] = string(sum)
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(mod, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, cluster.PluginPrefix+"mylib"), ".")
	build.Dir = mod
	// -mod=mod lets go complete the new module's requirements from raftcmp's.
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the out-of-tree plugin: %v\n%s", err, out)
	}
	return bin
}
