package adapter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options is backend-specific tuning as key=value strings, keys without the
// backend prefix.
type Options map[string]string

// Reader returns a reader that records which options were read, so that
// Err can reject the rest as unknown.
func (o Options) Reader() *OptionReader {
	return &OptionReader{opts: o, used: map[string]bool{}}
}

// OptionReader reads typed values from Options, keeping the first error.
// Read every option the backend knows, then check Err.
type OptionReader struct {
	opts Options
	used map[string]bool
	err  error
}

func (r *OptionReader) lookup(key string) (string, bool) {
	r.used[key] = true
	v, ok := r.opts[key]
	return v, ok
}

func (r *OptionReader) fail(key, val, allowed string) {
	if r.err == nil {
		r.err = fmt.Errorf("option %s=%q: must be %s", key, val, allowed)
	}
}

// Int returns the option as an integer in [lo, hi], or def if absent.
func (r *OptionReader) Int(key string, def, lo, hi int) int {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(key, v, fmt.Sprintf("an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

// Duration returns the option as a Go duration ("150ms") of at least lo, or
// def if absent.
func (r *OptionReader) Duration(key string, def, lo time.Duration) time.Duration {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		r.fail(key, v, fmt.Sprintf("a duration of at least %v (e.g. 150ms)", lo))
		return def
	}
	return d
}

// Bool returns the option as a boolean, or def if absent.
func (r *OptionReader) Bool(key string, def bool) bool {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(key, v, "true or false")
		return def
	}
	return b
}

// Enum returns the option, which must be one of allowed, or def if absent.
func (r *OptionReader) Enum(key, def string, allowed ...string) string {
	v, ok := r.lookup(key)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, v) {
		r.fail(key, v, "one of "+strings.Join(allowed, ", "))
		return def
	}
	return v
}

// Err is the first bad value read, or else an error naming the options that
// were given but never read, or nil.
func (r *OptionReader) Err() error {
	if r.err != nil {
		return r.err
	}
	var unknown []string
	for k := range r.opts {
		if !r.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	known := make([]string, 0, len(r.used))
	for k := range r.used {
		known = append(known, k)
	}
	slices.Sort(known)
	return fmt.Errorf("unknown option %s: this backend knows %s", strings.Join(unknown, ", "), strings.Join(known, ", "))
}
