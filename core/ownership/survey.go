package ownership

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Survey is what Find saw: the things raftcmp recorded or marked as its
// own, by whether their creator still runs, and what merely looks like
// them.
type Survey struct {
	// Leftovers are things whose creator is no longer running.
	Leftovers []Item
	// InUse are things whose creator runs (this process excluded).
	InUse []Item
	// LookAlikes are directories of a data root whose name starts with
	// Prefix but which carry no mark: not raftcmp's to remove.
	LookAlikes []string

	// ledgers are the ledger files of creators no longer running, deleted
	// by Remove once nothing they list is left.
	ledgers map[Owner]string
}

// Owners lists the creators of the leftovers, in pid order.
func (s *Survey) Owners() []Owner {
	var out []Owner
	for _, it := range s.Leftovers {
		if !slices.Contains(out, it.Owner) {
			out = append(out, it.Owner)
		}
	}
	slices.SortFunc(out, func(a, b Owner) int { return a.PID - b.PID })
	return out
}

// Count is how many leftovers are of kind k.
func (s *Survey) Count(k Kind) int {
	n := 0
	for _, it := range s.Leftovers {
		if it.Kind == k {
			n++
		}
	}
	return n
}

// Find reads every ledger in StateDir and every directory of the data
// roots whose name starts with Prefix, and sorts what they hold. The things
// of the calling process are left out. A data directory counts as raftcmp's
// if a ledger names it or its mark does; the mark, when there is one, says
// who created it.
func Find(roots []string) (*Survey, error) {
	s := &Survey{ledgers: map[Owner]string{}}
	seen := map[string]bool{}
	add := func(it Item) {
		seen[it.Name] = true
		switch {
		case it.Owner == Self():
		case it.Owner.Running():
			s.InUse = append(s.InUse, it)
		default:
			s.Leftovers = append(s.Leftovers, it)
		}
	}
	ledgers, err := readLedgers()
	if err != nil {
		return nil, err
	}
	for path, l := range ledgers {
		if l.Owner != Self() && !l.Owner.Running() {
			s.ledgers[l.Owner] = path
		}
		for _, it := range l.Items {
			it.Owner = l.Owner
			if it.Kind == DataDir {
				if !isDir(it.Name) {
					continue // never created, or already removed
				}
				if o, err := readMark(it.Name); err == nil {
					it.Owner = o
				}
			}
			add(it)
		}
	}
	for _, root := range roots {
		entries, err := os.ReadDir(root)
		if err != nil {
			continue // a data root that does not exist holds nothing
		}
		for _, e := range entries {
			dir := filepath.Join(root, e.Name())
			if !strings.HasPrefix(e.Name(), Prefix) || !e.IsDir() || seen[dir] {
				continue
			}
			seen[dir] = true
			if o, err := readMark(dir); err == nil {
				add(Item{Kind: DataDir, Name: dir, Owner: o})
			} else {
				s.LookAlikes = append(s.LookAlikes, dir)
			}
		}
	}
	for _, items := range [][]Item{s.Leftovers, s.InUse} {
		slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.String(), b.String()) })
	}
	slices.Sort(s.LookAlikes)
	return s, nil
}

// Remove removes the leftovers: each data directory (checked again to be a
// directory, never followed through a link), and each cgroup through
// removeCgroup, which must treat a group already gone as removed; with a
// nil removeCgroup cgroups are kept. It returns what it removed; a ledger
// is deleted once nothing it lists is left.
func (s *Survey) Remove(removeCgroup func(name string) error) ([]Item, error) {
	var removed []Item
	var errs []error
	left := map[Owner]int{}
	for _, it := range s.Leftovers {
		var err error
		switch {
		case it.Kind == DataDir && isDir(it.Name):
			err = os.RemoveAll(it.Name)
		case it.Kind == DataDir:
		case removeCgroup == nil:
			left[it.Owner]++
			continue
		default:
			err = removeCgroup(it.Name)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", it, err))
			left[it.Owner]++
			continue
		}
		removed = append(removed, it)
	}
	for o, path := range s.ledgers {
		if left[o] == 0 {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
	}
	return removed, errors.Join(errs...)
}

// readLedgers reads every ledger in StateDir, by file. Only a state
// directory that is this user's own is read (see stateDir); one that does
// not exist holds nothing.
func readLedgers() (map[string]ledger, error) {
	dir := StateDir()
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		return nil, nil
	}
	if err := trusted(dir); err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]ledger{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // deleted since the glob: its process ended cleanly
		}
		var l ledger
		if err := json.Unmarshal(b, &l); err != nil || l.Owner.PID <= 0 {
			return nil, fmt.Errorf("ledger %s: not a raftcmp ledger", p)
		}
		out[p] = l
	}
	return out, nil
}

func isDir(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.IsDir()
}

func ownedByMe(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
