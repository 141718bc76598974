package experiment

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// FieldError is a rejected input: the setting as the user gave it, the
// value and what is allowed. Field is the flag ("--nodes") for a value from
// the command line, a default or a resumed run, and the key ("nodes") for
// one from an experiment file, which File and Line then locate.
type FieldError struct {
	Field, Value, Allowed string
	// File and Line locate a value read from an experiment file; File is
	// "" otherwise.
	File string
	Line int
}

// Error is one line: `--nodes "20": must be from 1 to 9`, or for a file's
// value `x.yaml:4: nodes "20": must be from 1 to 9`.
func (e *FieldError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s:%d: %s %q: %s", e.File, e.Line, e.Field, e.Value, e.Allowed)
	}
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Allowed)
}

func fieldErr(field string, value any, allowed string, args ...any) *FieldError {
	return &FieldError{Field: field, Value: fmt.Sprint(value), Allowed: fmt.Sprintf(allowed, args...)}
}

// Validate checks every setting, in the table's order, and returns the
// first problem as a *FieldError naming the setting where the user gave
// it (a flag, or an experiment file's key and line), so that nothing
// starts on input that cannot run. A check that involves two settings
// names the one the user set.
func (s Spec) Validate() error {
	for i := range settings {
		if settings[i].check == nil {
			continue
		}
		if p := settings[i].check(&s); p != nil {
			return s.fieldError(p)
		}
	}
	return nil
}

// origin is where a setting's value came from: a flag (file "") or an
// experiment file's line, with the line of each element of a list.
type origin struct {
	file  string
	line  int
	items []int
}

// setFrom records where the value of setting key came from. It copies
// the map, since copies of a Spec share it.
func (s *Spec) setFrom(key string, o origin) {
	from := maps.Clone(s.from)
	if from == nil {
		from = map[string]origin{}
	}
	from[key] = o
	s.from = from
}

// problem is a check's finding, before it is named for the user.
type problem struct {
	key     string // the setting at fault
	item    int    // 1-based element of a list setting; 0: the whole value
	value   any
	allowed string
}

func (s *Spec) bad(key string, value any, allowed string, args ...any) *problem {
	return &problem{key: key, value: value, allowed: fmt.Sprintf(allowed, args...)}
}

// within is the check of an int setting with a range.
func (s *Spec) within(key string, v, lo, hi int, unit string) *problem {
	if v >= lo && v <= hi {
		return nil
	}
	return s.bad(key, v, "must be from %d to %d%s", lo, hi, unit)
}

// at says which element of a list the problem is about.
func (p *problem) at(item int) *problem {
	p.item = item
	return p
}

// blame is the setting a check of several should name: the first the
// user set, or else the first.
func (s *Spec) blame(keys ...string) string {
	for _, k := range keys {
		if _, ok := s.from[k]; ok {
			return k
		}
	}
	return keys[0]
}

// ref is how an error about setting near refers to setting key: as the
// user gave key, or if they did not, in the style near was given in.
func (s *Spec) ref(key, near string) string {
	o, ok := s.from[key]
	if !ok {
		o = s.from[near]
	}
	if o.file != "" {
		return byKey[key].key
	}
	return "--" + byKey[key].flag
}

// fieldError names a problem's setting as the user gave it.
func (s *Spec) fieldError(p *problem) *FieldError {
	st := byKey[p.key]
	fe := fieldErr("--"+st.flag, p.value, "%s", p.allowed)
	if o := s.from[p.key]; o.file != "" {
		fe.Field, fe.File, fe.Line = st.key, o.file, o.line
		if p.item > 0 && p.item <= len(o.items) {
			fe.Line = o.items[p.item-1]
		}
	}
	return fe
}

// CheckReadModes checks the experiment's read mode against the read modes
// each backend declares (adapter.Capabilities.ReadModes, by backend; every
// backend of Impls must be in declared). A backend that does not serve the
// mode would record every point unsupported, never an emulation. So when
// no backend of the experiment serves it, nothing could run and it is
// refused with a *FieldError naming the read-mode setting as the user gave
// it, each backend and the modes it declares. When some serve it, the run
// compares them and records the others unsupported: CheckReadModes
// returns those others, each with its declared modes ("hashicorp
// (linearizable, stale)"), for a warning before the run starts. A write-only
// experiment (ReadRatio 0) reads nothing and passes.
func (s Spec) CheckReadModes(declared map[string][]adapter.ReadMode) (unserved []string, err error) {
	if s.ReadRatio <= 0 {
		return nil, nil
	}
	mode := adapter.ReadMode(s.ReadMode)
	for _, impl := range s.Impls {
		modes := declared[impl]
		if slices.Contains(modes, mode) {
			continue
		}
		names := make([]string, len(modes))
		for i, m := range modes {
			names[i] = string(m)
		}
		unserved = append(unserved, fmt.Sprintf("%s (%s)", impl, cmp.Or(strings.Join(names, ", "), "no read mode")))
	}
	if len(unserved) < len(s.Impls) {
		return unserved, nil
	}
	if len(s.Impls) == 1 {
		impl := s.Impls[0]
		var names []string
		for _, m := range declared[impl] {
			names = append(names, string(m))
		}
		allowed := fmt.Sprintf("%s does not serve it: it declares %s", impl, cmp.Or(strings.Join(names, ", "), "no read mode"))
		if len(names) > 0 {
			allowed += "; try " + s.ref("read_mode", "read_mode") + " " + names[0]
		}
		return nil, s.fieldError(s.bad("read_mode", s.ReadMode, "%s", allowed))
	}
	return nil, s.fieldError(s.bad("read_mode", s.ReadMode, "no backend of the experiment serves it: %s declare only those", strings.Join(unserved, ", ")))
}
