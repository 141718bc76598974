package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/faults"
)

// pluginDirFlag is --plugin-dir, the same in every command that finds
// plugins.
func pluginDirFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "plugin-dir", Usage: "directory to look for raftcmp-plugin-* binaries in first (repeatable)"}
}

// insecurePluginFlag is --insecure-plugin, the same in every command that
// runs plugins: a binary raftcmp may run without checking it against the
// checksum manifest beside it.
func insecurePluginFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "insecure-plugin", Usage: "run this plugin binary without checking it against its checksum manifest (development only; repeatable)"}
}

// pluginSource is where a command finds plugins (--plugin-dir, then next
// to raftcmp, then $PATH) and which it may run unchecked
// (--insecure-plugin).
type pluginSource struct {
	dirs     []string
	insecure []string
}

func pluginSourceOf(c *cli.Context) pluginSource {
	return pluginSource{dirs: cluster.SearchPath(c.StringSlice("plugin-dir")...), insecure: c.StringSlice("insecure-plugin")}
}

// discover lists every plugin found, each admitted or refused with the
// reason (err).
func (s pluginSource) discover() (plugins []cluster.Plugin, refusals []error) {
	for _, p := range cluster.Discover(s.dirs) {
		plugins = append(plugins, p)
		refusals = append(refusals, cluster.Admit(&plugins[len(plugins)-1], s.insecure))
	}
	return plugins, refusals
}

// names lists the backends found, for messages.
func (s pluginSource) names() string {
	var names []string
	for _, p := range cluster.Discover(s.dirs) {
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		return fmt.Sprintf("none found in %s; run make, or pass --plugin-dir", strings.Join(s.dirs, ", "))
	}
	return "found: " + strings.Join(names, ", ")
}

// resolveBackends settles which backends an experiment runs and finds
// each one's plugin, admitted as raftcmp runs it: --impl (a list, or all;
// an empty list is refused), else the experiment's own list, else every
// plugin found but noop (which measures raftcmp itself and runs only when
// named). It validates the experiment once its backends are known.
func resolveBackends(c *cli.Context, s *experiment.Spec) (map[string]cluster.Plugin, error) {
	src := pluginSourceOf(c)
	// experiment.ApplyFlags has read --impl; an empty one is refused here,
	// where the backends found can be named.
	if c.IsSet("impl") && len(s.Impls) == 0 {
		return nil, fmt.Errorf("--impl %q: name at least one backend (%s), or all", c.String("impl"), src.names())
	}
	if len(s.Impls) == 0 || len(s.Impls) == 1 && s.Impls[0] == "all" {
		s.Impls = nil
		for _, p := range cluster.Discover(src.dirs) {
			if p.Name != "noop" {
				s.Impls = append(s.Impls, p.Name)
			}
		}
		if len(s.Impls) == 0 {
			return nil, fmt.Errorf("--impl: no plugins found (looked in %s); run make, or pass --plugin-dir", strings.Join(src.dirs, ", "))
		}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	plugins := map[string]cluster.Plugin{}
	for _, impl := range s.Impls {
		p, err := cluster.Find(impl, src.dirs)
		if err != nil {
			return nil, fmt.Errorf("--impl: %w", err)
		}
		if err := cluster.Admit(&p, src.insecure); err != nil {
			return nil, fmt.Errorf("--impl %s: %w", impl, err)
		}
		plugins[impl] = p
	}
	return plugins, nil
}

// checkLimits asks each backend what it can do (a short-lived plugin
// process each) and refuses an experiment one of them cannot run, before
// anything starts: one line naming the backend, what it supports and the
// flags that would make it run. Run calls it once its interrupt handling is
// in place, since it starts processes. A read mode is refused only when no
// backend serves it (experiment.Spec.CheckReadModes); when some do, the
// others are returned in warning, a line for the user before the run,
// whose points will be recorded unsupported.
func checkLimits(ctx context.Context, s experiment.Spec, plugins map[string]cluster.Plugin) (warning string, err error) {
	if err := faults.CheckCombination(s.Faults); err != nil {
		return "", err
	}
	var refusal error
	var able []string
	declared := map[string][]adapter.ReadMode{}
	for _, impl := range s.Impls {
		d, err := cluster.Describe(ctx, plugins[impl])
		if err != nil {
			return "", fmt.Errorf("--impl %s: ask the plugin what it supports: %v", impl, oneLineErr(err))
		}
		declared[impl] = d.Capabilities.ReadModes
		if err := limitsOf(impl, d.Capabilities, s); err == nil {
			able = append(able, impl)
		} else if refusal == nil {
			refusal = err
		}
	}
	if refusal != nil && len(able) > 0 {
		return "", fmt.Errorf("%w, or --impl %s", refusal, strings.Join(able, ","))
	}
	if refusal != nil {
		return "", refusal
	}
	return readModeWarning(s, declared)
}

// readModeWarning is checkLimits' read-mode check: the refusal when no
// backend serves s's read mode, else a warning naming those that do not.
func readModeWarning(s experiment.Spec, declared map[string][]adapter.ReadMode) (string, error) {
	unserved, err := s.CheckReadModes(declared)
	if err != nil || len(unserved) == 0 {
		return "", err
	}
	return fmt.Sprintf("warning: read mode %s is not served by %s: their points will be recorded unsupported (never emulated); the others run", s.ReadMode, strings.Join(unserved, ", ")), nil
}

// limitsOf says what of s backend impl, with capabilities caps, cannot
// run, and the flags that would make it, or nil if it can run s.
func limitsOf(impl string, caps adapter.Capabilities, s experiment.Spec) error {
	var supports, try []string
	if !caps.Supports(s.Storage) && len(caps.Storage) > 0 {
		var modes []string
		for _, m := range caps.Storage {
			modes = append(modes, string(m))
		}
		supports = append(supports, "storage "+strings.Join(modes, " or ")+" only")
		try = append(try, "--storage "+modes[0])
	}
	if !caps.Fits(s.Nodes) {
		nodes := fmt.Sprintf("at most %d nodes", caps.MaxNodes)
		if caps.MaxNodes == 1 {
			nodes = "1 node"
		}
		supports = append(supports, nodes)
		try = append(try, fmt.Sprintf("--nodes %d", caps.MaxNodes))
	}
	if !caps.Membership && faults.NeedsMembership(s.Faults) {
		supports = append(supports, "no membership change (fault reconfigure)")
		try = append(try, "--fault without reconfigure")
	}
	if len(supports) == 0 {
		return nil
	}
	return fmt.Errorf("--impl %s: supports %s; try %s", impl, strings.Join(supports, " and "), strings.Join(try, " "))
}
