package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// PluginPrefix is the file name prefix of a plugin binary: the backend
// "etcd" is the program raftcmp-plugin-etcd.
const PluginPrefix = "raftcmp-plugin-"

// Plugin is a plugin binary found on disk.
type Plugin struct {
	// Name is the backend name (the file name without PluginPrefix).
	Name string
	// Path is the binary's absolute path.
	Path string
	// Checksum, when set (by Verify), is the binary's SHA-256: go-plugin
	// refuses to start the plugin if the file no longer matches it.
	Checksum []byte
}

// SearchPath returns the directories raftcmp looks for plugins in, first
// match wins: the given directories (--plugin-dir), the directory of the
// running raftcmp binary, then $PATH.
func SearchPath(extra ...string) []string {
	dirs := slices.Clone(extra)
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		dirs = append(dirs, filepath.Dir(exe))
	}
	return append(dirs, filepath.SplitList(os.Getenv("PATH"))...)
}

// Discover lists the plugins in dirs, one per backend name, the first found
// winning, sorted by name.
func Discover(dirs []string) []Plugin {
	seen := map[string]bool{}
	var found []Plugin
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // a missing $PATH entry is not an error
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), PluginPrefix)
			if !ok || name == "" || seen[name] {
				continue
			}
			path, err := filepath.Abs(filepath.Join(dir, e.Name()))
			if err != nil || !isExecutable(path) {
				continue
			}
			seen[name] = true
			found = append(found, Plugin{Name: name, Path: path})
		}
	}
	slices.SortFunc(found, func(a, b Plugin) int { return strings.Compare(a.Name, b.Name) })
	return found
}

// ErrUnknownImpl is wrapped by Find when no plugin has the asked name.
var ErrUnknownImpl = errors.New("unknown implementation")

// Find returns the plugin for backend name in dirs. The error for an unknown
// name lists the backends that were found and where raftcmp looked.
func Find(name string, dirs []string) (Plugin, error) {
	all := Discover(dirs)
	for _, p := range all {
		if p.Name == name {
			return p, nil
		}
	}
	var names []string
	for _, p := range all {
		names = append(names, p.Name)
	}
	known := "none found"
	if len(names) > 0 {
		known = "known: " + strings.Join(names, ", ")
	}
	return Plugin{}, fmt.Errorf("%w %q (%s; plugins are files named %s<impl> next to raftcmp, in --plugin-dir or on $PATH)", ErrUnknownImpl, name, known, PluginPrefix)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
