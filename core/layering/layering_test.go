// Package layering holds only a test: that raftcmp's dependencies point
// one way (docs/architecture.md). It reads the import graph from
// `go list -deps` and names the offending import when an edge comes back.
package layering

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/raftcmp/raftcmp"

// graph is the import graph of every package of the module and its
// dependencies (tests excluded): package -> the packages it imports.
type graph map[string][]string

func load(t *testing.T) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...")
	cmd.Dir = "../.." // the module root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	g := graph{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 0 {
			g[f[0]] = f[1:]
		}
	}
	return g
}

// reach returns every package from reaches (from included), each with the
// package that first imported it on a shortest path (from maps to "").
func (g graph) reach(from string) map[string]string {
	via := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, q := range g[p] {
			if _, seen := via[q]; !seen {
				via[q] = p
				queue = append(queue, q)
			}
		}
	}
	return via
}

// chain spells the import path from the start of via to p, "a -> b -> p".
func chain(via map[string]string, p string) string {
	var path []string
	for ; p != ""; p = via[p] {
		path = append(path, strings.TrimPrefix(p, module+"/"))
	}
	slices.Reverse(path)
	return strings.Join(path, " -> ")
}

// under reports whether package p is prefix or inside it.
func under(p, prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }

func TestDependenciesPointOneWay(t *testing.T) {
	g := load(t)
	heavy := []string{"github.com/hashicorp/go-plugin", "google.golang.org/grpc", "github.com/containerd/cgroups", "github.com/Shopify/toxiproxy"}
	rules := []struct {
		from   string   // a package of the module
		forbid []string // packages (and everything below them) it must not depend on
		why    string
	}{
		{"reports", heavy, "the report builder reads files; it must not link plugins, gRPC, cgroups or proxies"},
		{"core/experiment", []string{module + "/core/cluster"}, "the experiment spec must not depend on running clusters"},
		{"core/cluster", []string{module + "/faults"}, "faults hook into the cluster (cluster.Hooks), not the other way"},
	}
	for _, r := range rules {
		via := g.reach(module + "/" + r.from)
		if len(via) == 1 {
			t.Errorf("package %s not found in go list's output", r.from)
		}
		bad := func(p string) bool { return slices.ContainsFunc(r.forbid, func(f string) bool { return under(p, f) }) }
		for p := range via {
			if bad(p) && !bad(via[p]) { // where the graph first crosses into forbidden ground
				t.Errorf("%s must not depend on %s (%s): edge %s, by %s", r.from, strings.TrimPrefix(p, module+"/"), r.why, edge(via, p), chain(via, p))
			}
		}
	}

	// A plugin may import core/adapter (and what it imports) and its own
	// packages, nothing else of raftcmp's.
	allowed := g.reach(module + "/core/adapter")
	var plugins int
	for p := range g {
		impl, ok := strings.CutPrefix(p, module+"/plugins/")
		if !ok {
			continue
		}
		plugins++
		own := module + "/plugins/" + strings.Split(impl, "/")[0]
		fine := func(q string) bool { _, a := allowed[q]; return a || !under(q, module) || under(q, own) }
		via := g.reach(p)
		for q := range via {
			if !fine(q) && fine(via[q]) {
				t.Errorf("plugin %s must import nothing of raftcmp's but core/adapter: edge %s, by %s", strings.TrimPrefix(p, module+"/"), edge(via, q), chain(via, q))
			}
		}
	}
	if plugins == 0 {
		t.Error("no plugin package found in go list's output")
	}
}

// edge spells the import of p, "importer -> p".
func edge(via map[string]string, p string) string {
	return strings.TrimPrefix(via[p], module+"/") + " -> " + strings.TrimPrefix(p, module+"/")
}

// The checks catch an edge when there is one: a graph with a forbidden
// import yields the chain that names it.
func TestChainNamesTheEdge(t *testing.T) {
	g := graph{"a": {"b", "c"}, "b": {"d"}, "c": nil, "d": nil}
	via := g.reach("a")
	if got, want := chain(via, "d"), "a -> b -> d"; got != want {
		t.Errorf("chain = %q, want %q", got, want)
	}
	if _, ok := via["x"]; ok {
		t.Error("reach found a package nothing imports")
	}
	if got := fmt.Sprint(under(module+"/faults/cgroup", module+"/faults"), under(module+"/faultsx", module+"/faults")); got != "true false" {
		t.Errorf("under: %s", got)
	}
}
