package experiment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// File is an experiment file (docs/experiment-format.md): everything the
// flags of `raftcmp run` say, in YAML. Every key is optional; unknown keys
// are errors. Flags given on the command line override the file.
type File struct {
	Impls      []string                     `yaml:"impls"`
	Nodes      *int                         `yaml:"nodes"`
	Storage    *string                      `yaml:"storage"`
	Threads    yaml.Node                    `yaml:"threads"` // a list, or a string "2:20:2" / "2,4,8"
	Rate       *float64                     `yaml:"rate"`
	Client     *string                      `yaml:"client"`
	Loop       *string                      `yaml:"loop"`
	Payload    *int                         `yaml:"payload"`
	Warmup     *string                      `yaml:"warmup"`
	Duration   *string                      `yaml:"duration"`
	Interval   *string                      `yaml:"interval"`
	OpTimeout  *string                      `yaml:"op_timeout"`
	Repeat     *int                         `yaml:"repeat"`
	GOMAXPROCS *string                      `yaml:"gomaxprocs"`
	CPUs       []int                        `yaml:"cpus"`
	Faults     []yaml.Node                  `yaml:"faults"` // strings in --fault syntax, or mappings
	Options    map[string]map[string]string `yaml:"options"`
	Out        *string                      `yaml:"out"`

	path string
	root *yaml.Node
}

// faultEntry is the mapping form of a fault.
type faultEntry struct {
	Kind   string            `yaml:"kind"`
	Target string            `yaml:"target"`
	Params map[string]string `yaml:"params"`
	At     string            `yaml:"at"`
	For    string            `yaml:"for"`
}

// LoadFile reads and decodes an experiment file. Syntax errors and unknown
// keys are reported with the file name and line.
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseFile(path, b)
}

// ParseFile decodes an experiment file's contents; path names it in errors.
func ParseFile(path string, b []byte) (*File, error) {
	f := &File{path: path, root: &yaml.Node{}}
	if err := yaml.Unmarshal(b, f.root); err != nil {
		return nil, fmt.Errorf("%s: %v", path, cleanYAMLError(err))
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return nil, fmt.Errorf("%s: %v", path, cleanYAMLError(err))
	}
	return f, nil
}

// cleanYAMLError keeps yaml's message on one line: "line 5: field speed not
// found in type experiment.File" becomes "line 5: unknown key speed".
func cleanYAMLError(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.ReplaceAll(s, "unmarshal errors:\n  ", "")
	s = strings.ReplaceAll(s, "\n  ", "; ")
	s = strings.ReplaceAll(s, " not found in type experiment.File", ": unknown key")
	s = strings.ReplaceAll(s, "field ", "")
	return s
}

// at prefixes an error with the file and the line of key.
func (f *File) at(key string, err error) error {
	return fmt.Errorf("%s:%d: %w", f.path, f.line(key), err)
}

// line is the line of a top-level key, or 0.
func (f *File) line(key string) int {
	doc := f.root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == key {
			return doc.Content[i].Line
		}
	}
	return 0
}

// Apply sets the fields the file states on s, skipping those whose flag
// the user set (isSet reports that, by flag name). It checks each value's
// form; Validate checks the whole spec afterwards.
func (f *File) Apply(s *Spec, isSet func(flag string) bool) error {
	set := func(flag string, present bool) bool { return present && !isSet(flag) }
	if set("impl", f.Impls != nil) {
		s.Impls = f.Impls
	}
	if set("nodes", f.Nodes != nil) {
		s.Nodes = *f.Nodes
	}
	if set("storage", f.Storage != nil) {
		s.Storage = adapter.Storage(*f.Storage)
	}
	if set("threads", !f.Threads.IsZero()) {
		t, err := f.threads()
		if err != nil {
			return f.at("threads", err)
		}
		s.Threads = t
	}
	if set("rate", f.Rate != nil) {
		s.Rate = *f.Rate
	}
	if set("client", f.Client != nil) {
		s.Client = *f.Client
	}
	if set("loop", f.Loop != nil) {
		s.Loop = *f.Loop
	}
	if set("payload", f.Payload != nil) {
		s.PayloadBytes = *f.Payload
	}
	for _, d := range []struct {
		key, flag string
		v         *string
		dst       *time.Duration
	}{
		{"warmup", "warmup", f.Warmup, &s.Warmup},
		{"duration", "duration", f.Duration, &s.Duration},
		{"interval", "interval", f.Interval, &s.Interval},
		{"op_timeout", "op-timeout", f.OpTimeout, &s.OpTimeout},
	} {
		if !set(d.flag, d.v != nil) {
			continue
		}
		v, err := time.ParseDuration(*d.v)
		if err != nil {
			return f.at(d.key, fmt.Errorf("%s %q: want a duration such as 20s", d.key, *d.v))
		}
		*d.dst = v
	}
	if set("repeat", f.Repeat != nil) {
		s.Repeat = *f.Repeat
	}
	if set("cpus", f.CPUs != nil) {
		s.CPUs = f.CPUs
	}
	if set("gomaxprocs", f.GOMAXPROCS != nil) {
		n, err := ParseGOMAXPROCS(*f.GOMAXPROCS)
		if err != nil {
			return f.at("gomaxprocs", err)
		}
		s.GOMAXPROCS = n
	}
	if set("fault", f.Faults != nil) {
		s.Faults = nil
		for i := range f.Faults {
			spec, err := faultFromNode(&f.Faults[i])
			if err != nil {
				return fmt.Errorf("%s:%d: %w", f.path, f.Faults[i].Line, err)
			}
			s.Faults = append(s.Faults, spec)
		}
	}
	if set("opt", f.Options != nil) {
		for impl, kv := range f.Options {
			for k, v := range kv {
				if s.Options[impl] == nil {
					s.Options[impl] = adapter.Options{}
				}
				s.Options[impl][k] = v
			}
		}
	}
	return nil
}

// OutDir is the file's output directory, if it names one.
func (f *File) OutDir() string {
	if f.Out == nil {
		return ""
	}
	return *f.Out
}

func (f *File) threads() ([]int, error) {
	switch f.Threads.Kind {
	case yaml.ScalarNode:
		return ParseThreads(f.Threads.Value)
	case yaml.SequenceNode:
		var parts []string
		for _, n := range f.Threads.Content {
			parts = append(parts, n.Value)
		}
		return ParseThreads(strings.Join(parts, ","))
	}
	return nil, fieldErr("threads", "", threadsAllowed)
}

// faultFromNode reads one faults entry: a string in --fault syntax or a
// mapping {kind, target, params, at, for}.
func faultFromNode(n *yaml.Node) (faultspec.Spec, error) {
	if n.Kind == yaml.ScalarNode {
		return faultspec.Parse(n.Value)
	}
	if n.Kind != yaml.MappingNode {
		return faultspec.Spec{}, errors.New("fault: want a string such as cpu-slow:follower,quota=5% or a mapping with kind, target, params, at, for")
	}
	// Node.Decode cannot reject unknown keys, so check them here.
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i]; k.Value {
		case "kind", "target", "params", "at", "for":
		default:
			return faultspec.Spec{}, fmt.Errorf("fault: line %d: unknown key %s (want kind, target, params, at, for)", k.Line, k.Value)
		}
	}
	var e faultEntry
	if err := n.Decode(&e); err != nil {
		return faultspec.Spec{}, fmt.Errorf("fault: %v", cleanYAMLError(err))
	}
	// Build the --fault form, so both forms share one parser and one set of
	// checks.
	s := e.Kind
	if e.Target != "" {
		s += ":" + e.Target
	}
	for _, k := range sortedKeys(e.Params) {
		s += "," + k + "=" + e.Params[k]
	}
	if e.At != "" {
		s += ",at=" + e.At
	}
	if e.For != "" {
		s += ",for=" + e.For
	}
	return faultspec.Parse(s)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
