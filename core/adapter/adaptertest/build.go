// Package adaptertest is the conformance kit for raftcmp backends: test
// helpers that start a backend's real plugin processes and check that it
// keeps the adapter.Node contract.
package adaptertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/raftcmp/raftcmp/core/cluster"
)

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// BuildPlugin compiles the plugin main package pkg (an import path such as
// "github.com/raftcmp/raftcmp/plugins/hashicorp/plugin") as backend name and
// returns the binary's path. Each binary is built once per test process (the
// Go build cache makes it quick after the first time), with CGO disabled as
// the Makefile builds it. The directory is removed when the process exits
// through TestMain's RemoveBuilds, or left in the OS temp dir otherwise.
func BuildPlugin(t testing.TB, name, pkg string) cluster.Plugin {
	t.Helper()
	return build(t, name, pkg, false)
}

// BuildCgoPlugin is BuildPlugin for a plugin that links a C library through
// cgo (plugins/canonical): built with CGO_ENABLED=1 and the extra go build
// flags given (such as -ldflags), as the Makefile builds it, into the same
// directory and manifest as the others.
func BuildCgoPlugin(t testing.TB, name, pkg string, flags ...string) cluster.Plugin {
	t.Helper()
	return build(t, name, pkg, true, flags...)
}

func build(t testing.TB, name, pkg string, cgo bool, flags ...string) cluster.Plugin {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if path, ok := built[pkg]; ok {
		return cluster.Plugin{Name: name, Path: path}
	}
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "raftcmp-test-plugins-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = dir
	}
	path := filepath.Join(buildDir, cluster.PluginPrefix+name)
	cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", path, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if cgo {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build plugin %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = path
	// A manifest beside the binaries, as make writes one, so tests run
	// plugins the way raftcmp's users do: verified.
	if err := cluster.WriteManifest(buildDir); err != nil {
		t.Fatal(err)
	}
	return cluster.Plugin{Name: name, Path: path}
}

// RemoveBuilds deletes the binaries BuildPlugin made. Call it from TestMain
// after m.Run.
func RemoveBuilds() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
		buildDir = ""
		built = map[string]string{}
	}
}

// Main is the TestMain of a package whose tests build plugins: it runs the
// tests, removes what BuildPlugin built and exits with the tests' status.
//
//	func TestMain(m *testing.M) { adaptertest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	RemoveBuilds()
	os.Exit(code)
}

// BuildBackend builds the in-tree backend name (its main package is
// plugins/<name>/plugin of this module) with BuildPlugin.
func BuildBackend(t testing.TB, name string) cluster.Plugin {
	t.Helper()
	return BuildPlugin(t, name, "github.com/raftcmp/raftcmp/plugins/"+name+"/plugin")
}
