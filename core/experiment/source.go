package experiment

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// byKey finds a setting by its file key. It is filled by init, not by an
// initializer, since the table's checks use it (an initialization cycle
// otherwise).
var byKey map[string]*setting

func init() {
	byKey = map[string]*setting{}
	for i := range settings {
		byKey[settings[i].key] = &settings[i]
	}
}

// Setting is one experiment setting as a command line declares it; see
// Settings.
type Setting struct {
	// Flag is the flag's name without dashes ("op-timeout"); Key is the
	// experiment file's key for the same setting ("op_timeout").
	Flag, Key string
	// Usage is the flag's help text.
	Usage string
	// Default is the flag's default, and its type is the flag's: an int,
	// float64 or time.Duration flag, a string flag ("" shows no default),
	// or, when nil, a repeatable string flag.
	Default any
}

// Settings lists every experiment setting, in --help order, for a command
// line to declare as flags; ApplyFlags reads them back.
func Settings() []Setting {
	out := make([]Setting, len(settings))
	for i, st := range settings {
		out[i] = Setting{Flag: st.flag, Key: st.key, Usage: st.usage}
		if st.kind != kindList {
			v, err := st.fromText(st.def)
			if err != nil {
				panic(fmt.Sprintf("experiment: default of %s: %v", st.key, err))
			}
			out[i].Default = v
		}
	}
	return out
}

// Flags is the command line as ApplyFlags reads it, declared as Settings
// says; urfave/cli's *cli.Context satisfies it.
type Flags interface {
	IsSet(name string) bool
	Int(name string) int
	Float64(name string) float64
	Duration(name string) time.Duration
	String(name string) string
	StringSlice(name string) []string
}

// ApplyFlags sets on s every setting whose flag the user gave, checking
// each value's form; errors name the flag. Validate checks the whole spec
// afterwards. A repeated --opt adds to the options s has; every other flag
// replaces the value.
func ApplyFlags(s *Spec, f Flags) error {
	for i := range settings {
		st := &settings[i]
		if !f.IsSet(st.flag) {
			continue
		}
		if err := st.apply(s, st.fromFlag(f)); err != nil {
			return origin{}.locate(err, st)
		}
		s.setFrom(st.key, origin{})
	}
	return nil
}

// fromFlag is the setting's flag value, typed as apply takes it.
func (st *setting) fromFlag(f Flags) any {
	switch st.kind {
	case kindInt:
		return f.Int(st.flag)
	case kindFloat:
		return f.Float64(st.flag)
	case kindDuration:
		return f.Duration(st.flag)
	case kindText:
		return f.String(st.flag)
	}
	return sequence(f.StringSlice(st.flag)...)
}

// fromText is a value as a user would type it on the command line (a
// default), typed as apply takes it.
func (st *setting) fromText(t string) (any, error) {
	switch st.kind {
	case kindInt:
		return strconv.Atoi(t)
	case kindFloat:
		return strconv.ParseFloat(t, 64)
	case kindDuration:
		return time.ParseDuration(t)
	case kindText:
		return t, nil
	}
	if t == "" {
		return sequence(), nil
	}
	return sequence(t), nil
}

// fromNode is an experiment file's value, typed as apply takes it.
func (st *setting) fromNode(n *yaml.Node) (any, error) {
	switch st.kind {
	case kindInt:
		var v int
		return v, n.Decode(&v)
	case kindFloat:
		var v float64
		return v, n.Decode(&v)
	case kindDuration:
		d, err := time.ParseDuration(n.Value)
		if err != nil || n.Kind != yaml.ScalarNode {
			return nil, fieldErr("--"+st.flag, n.Value, "want a duration such as 20s")
		}
		return d, nil
	case kindText:
		if n.Kind == yaml.ScalarNode {
			return n.Value, nil
		}
		notText := fieldErr("--"+st.flag, "", "want a string or a list of plain values")
		if n.Kind != yaml.SequenceNode {
			return nil, notText
		}
		var parts []string
		for _, item := range n.Content {
			if item = deref(item); item.Kind != yaml.ScalarNode {
				return nil, atLine(notText, item.Line)
			}
			parts = append(parts, item.Value)
		}
		return strings.Join(parts, ","), nil
	}
	if n.Kind == yaml.ScalarNode && st.set == nil {
		// One item, without the list around it.
		return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{n}}, nil
	}
	return n, nil
}

// apply stores v, as fromFlag, fromText or fromNode gave it, in s.
func (st *setting) apply(s *Spec, v any) error {
	if st.set != nil {
		return st.set(s, v)
	}
	field := reflect.ValueOf(st.field(s)).Elem()
	switch st.kind {
	case kindText:
		if st.parse != nil {
			var err error
			if v, err = st.parse(v.(string)); err != nil {
				return err
			}
		}
	case kindList:
		n := v.(*yaml.Node)
		if n.Kind != yaml.SequenceNode {
			return fieldErr("--"+st.flag, "", "want a list")
		}
		list := reflect.MakeSlice(field.Type(), 0, len(n.Content))
		for _, item := range n.Content {
			x, err := st.item(deref(item))
			if err != nil {
				return atLine(err, item.Line)
			}
			list = reflect.Append(list, reflect.ValueOf(x))
		}
		v = list.Interface()
	}
	field.Set(reflect.ValueOf(v).Convert(field.Type()))
	return nil
}

// compared is the setting's value in the resume fingerprint.
func (st *setting) comparedValue(s *Spec) any {
	if st.compared != nil {
		return st.compared(s)
	}
	return reflect.ValueOf(st.field(s)).Elem().Interface()
}

// locate names the source of a value a setting refused: the flag, or the
// file's key and line.
func (o origin) locate(err error, st *setting) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		c := *fe
		c.Field = "--" + st.flag
		if o.file != "" {
			c.Field, c.File = st.key, o.file
			if c.Line == 0 {
				c.Line = o.line
			}
		}
		return &c
	}
	if o.file == "" {
		return err
	}
	var le *lineError
	if errors.As(err, &le) {
		return fmt.Errorf("%s:%d: %v", o.file, le.line, le.err)
	}
	// A YAML type error, which names the line itself.
	return fmt.Errorf("%s: %s (%s wants %s)", o.file, cleanYAMLError(err), st.key, st.kind.want())
}

// want says what a file gives for a setting of kind k.
func (k kind) want() string {
	switch k {
	case kindInt:
		return "a whole number"
	case kindFloat:
		return "a number"
	case kindDuration:
		return "a duration such as 20s"
	case kindText:
		return "a string"
	}
	return "a list"
}

// lineError is an error about one line of a file.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return e.err.Error() }

// atLine places an error about one element of a list at its line.
func atLine(err error, line int) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		c := *fe
		c.Line = line
		return &c
	}
	return &lineError{line: line, err: err}
}

// sequence is a YAML list of strings, the form a repeatable flag's values
// take to share a list setting's reader with files.
func sequence(items ...string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, v := range items {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v})
	}
	return n
}

// deref follows YAML aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
