package experiment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// File is an experiment file (docs/experiment-format.md): the settings of
// `raftcmp run`'s flags, each under its key (Settings), and out. Every key
// is optional; unknown keys are errors. Flags given on the command line
// override the file.
type File struct {
	path   string
	keys   []string              // the keys given, in the file's order
	values map[string]*yaml.Node // each key's value, aliases followed; null values left out
	lines  map[string]int        // each key's line
	out    string
}

// outKey is the one key that is not a setting of the experiment: where
// its results go.
const outKey = "out"

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

// ParseFile decodes an experiment file's contents; path names it in
// errors. It checks every value's form, whether or not a flag will
// override it; errors name the file, the line and the key.
func ParseFile(path string, b []byte) (*File, error) {
	f := &File{path: path, values: map[string]*yaml.Node{}, lines: map[string]int{}}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%s: %v", path, cleanYAMLError(err))
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = deref(doc.Content[0])
	}
	switch {
	case doc.Kind == yaml.DocumentNode || doc.Kind == 0 || isNull(doc): // no settings
		return f, nil
	case doc.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("%s: line %d: want settings as KEY: VALUE lines (docs/experiment-format.md)", path, doc.Line)
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], deref(doc.Content[i+1])
		switch first, dup := f.lines[k.Value]; {
		case k.Kind != yaml.ScalarNode:
			return nil, fmt.Errorf("%s: line %d: want a setting's name as the key", path, k.Line)
		case dup:
			return nil, fmt.Errorf("%s: line %d: %s: given twice (first on line %d)", path, k.Line, k.Value, first)
		case k.Value != outKey && byKey[k.Value] == nil:
			return nil, fmt.Errorf("%s: line %d: %s: unknown key (keys: %s)", path, k.Line, k.Value, knownKeys())
		}
		f.lines[k.Value] = k.Line
		if !isNull(v) {
			f.keys = append(f.keys, k.Value)
			f.values[k.Value] = v
		}
	}
	if v := f.values[outKey]; v != nil {
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: %s: want a directory", path, f.lines[outKey], outKey)
		}
		f.out = v.Value
	}
	check := Default()
	if err := f.Apply(&check, func(string) bool { return false }); err != nil {
		return nil, err
	}
	return f, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func knownKeys() string {
	keys := make([]string, 0, len(settings)+1)
	for _, st := range settings {
		keys = append(keys, st.key)
	}
	return strings.Join(append(keys, outKey), ", ")
}

// cleanYAMLError keeps yaml's message on one line: "yaml: unmarshal
// errors:\n  line 5: cannot unmarshal ..." becomes "line 5: cannot
// unmarshal ...".
func cleanYAMLError(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.ReplaceAll(s, "unmarshal errors:\n  ", "")
	return strings.ReplaceAll(s, "\n  ", "; ")
}

// Apply sets the settings the file states on s, in the file's order,
// skipping those whose flag the user set (isSet reports that, by flag
// name). A path (hosts) is relative to the file's directory. It checks each value's form, naming the file, line and key;
// Validate checks the whole spec afterwards, naming them too.
func (f *File) Apply(s *Spec, isSet func(flag string) bool) error {
	for _, key := range f.keys {
		st := byKey[key]
		if st == nil || isSet(st.flag) { // nil: out
			continue
		}
		n := f.values[key]
		o := origin{file: f.path, line: f.lines[key]}
		v, err := st.fromNode(n)
		if text, ok := v.(string); ok && st.path && text != "" && !filepath.IsAbs(text) {
			v = filepath.Join(filepath.Dir(f.path), text)
		}
		if err == nil {
			err = st.apply(s, v)
		}
		if err != nil {
			return o.locate(err, st)
		}
		if st.kind == kindList && n.Kind == yaml.SequenceNode {
			for _, item := range n.Content {
				o.items = append(o.items, item.Line)
			}
		}
		s.setFrom(key, o)
	}
	return nil
}

// OutDir is the file's output directory, if it names one.
func (f *File) OutDir() string {
	return f.out
}

// faultFromNode reads one faults entry: a string in --fault syntax or a
// mapping {kind, target, params, at, for}.
func faultFromNode(n *yaml.Node) (faultspec.Spec, error) {
	if n.Kind == yaml.ScalarNode {
		return parseFault(n.Value)
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
	return parseFault(s)
}

// parseFault reads a fault in --fault syntax. faultspec's errors name the
// flag; this one leaves naming the source (a flag or a file's key) to the
// reader.
func parseFault(text string) (faultspec.Spec, error) {
	f, err := faultspec.Parse(text)
	if err != nil {
		why := strings.TrimPrefix(err.Error(), fmt.Sprintf("--fault %q: ", text))
		return f, fieldErr("--fault", text, "%s", why)
	}
	return f, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
