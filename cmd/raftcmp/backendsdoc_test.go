package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated blocks of docs/backends.md from the plugins")

// docsBackends is the page whose settings tables the plugins write.
const docsBackends = "../../docs/backends.md"

// docs/backends.md shows each backend's settings as the plugins report them:
// every block between a `<!-- raftcmp list ... -->` line and `<!-- end -->`
// is that command's output, so the page cannot drift from the code. After a
// change to a plugin's settings, regenerate with
// `go test ./cmd/raftcmp -run TestBackendsDoc -update-docs` and read the diff.
func TestBackendsDocMatchesPlugins(t *testing.T) {
	for _, impl := range []string{"etcd", "hashicorp", "dragonboat"} {
		adaptertest.BuildPlugin(t, impl, "github.com/raftcmp/raftcmp/plugins/"+impl+"/plugin")
	}
	// The canonical backend links libraft through cgo: its blocks are
	// checked where libraft is installed, and left alone elsewhere.
	canonical := exec.Command("pkg-config", "--exists", "raft", "libuv").Run() == nil
	if canonical {
		ver, err := exec.Command("pkg-config", "--modversion", "raft").Output()
		if err != nil {
			t.Fatal(err)
		}
		adaptertest.BuildCgoPlugin(t, "canonical", "github.com/raftcmp/raftcmp/plugins/canonical/plugin",
			"-ldflags", "-X github.com/raftcmp/raftcmp/plugins/canonical.libraftVersion="+strings.TrimSpace(string(ver)))
	}
	dir := pluginDir(t)
	raw, err := os.ReadFile(docsBackends)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	const open, end = "<!-- raftcmp ", " -->\n"
	var out strings.Builder
	blocks := 0
	for rest := doc; ; {
		i := strings.Index(rest, open)
		if i < 0 {
			out.WriteString(rest)
			break
		}
		j := strings.Index(rest[i:], end)
		k := strings.Index(rest[i:], "<!-- end -->")
		if j < 0 || k < 0 {
			t.Fatalf("%s: a generated block without its end marker", docsBackends)
		}
		args := strings.Fields(rest[i+len(open) : i+j])
		header := rest[:i+j+len(end)]
		if !canonical && strings.Contains(strings.Join(args, " "), "canonical") {
			t.Logf("libraft not installed: the block of `raftcmp %s` is not checked", strings.Join(args, " "))
			out.WriteString(rest[:i+k])
			rest = rest[i+k:]
			continue
		}
		code, stdout, stderr := raftcmp(t, append(args, "--plugin-dir", dir)...)
		if code != 0 {
			t.Fatalf("raftcmp %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		if got := rest[i+j+len(end) : i+k]; got != stdout {
			if !*updateDocs {
				t.Errorf("%s: the block of `raftcmp %s` is not what the plugins say now; rerun with -update-docs and read the diff", docsBackends, strings.Join(args, " "))
			}
		}
		out.WriteString(header + stdout)
		rest = rest[i+k:]
		blocks++
	}
	if blocks == 0 {
		t.Fatalf("%s has no generated block", docsBackends)
	}
	if *updateDocs {
		if err := os.WriteFile(filepath.Clean(docsBackends), []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
