package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/hosts"
)

// CleanupHost connects to h, installs the helper there (helper, or this
// process's executable if ""), and has it find, and unless dryRun remove,
// what killed runs left on the host (the helper's cleanup operation: see
// CleanupReport). An error means the host could not be reached or asked
// (a *HostError naming it); what could not be removed is in the report's
// Errors.
func CleanupHost(ctx context.Context, h hosts.Host, helper string, dryRun bool) (*CleanupReport, error) {
	if helper == "" {
		var err error
		if helper, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find raftcmp's own binary: %w", err)
		}
	}
	if err := checkStatic(helper); err != nil {
		return nil, err
	}
	sum, err := cluster.FileSum(helper)
	if err != nil {
		return nil, fmt.Errorf("hash helper: %w", err)
	}
	c, err := dial(ctx, h, keepaliveEvery)
	if err != nil {
		return nil, err
	}
	defer c.close()
	remote, err := c.install(ctx, helper, sum)
	if err != nil {
		return nil, hostError(h, err, "install the helper")
	}
	return cleanupOn(ctx, c, remote, dryRun)
}

// cleanupOn runs the helper's cleanup operation over c.
func cleanupOn(ctx context.Context, c *conn, helper string, dryRun bool) (*CleanupReport, error) {
	args := []string{helper, HelperCommand, opCleanup}
	if dryRun {
		args = append(args, "--dry-run")
	}
	out, err := c.run(ctx, append(args, c.host.Dir)...)
	if err != nil {
		return nil, hostError(c.host, err, "cleanup")
	}
	var r CleanupReport
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, hostError(c.host, err, "cleanup: %q", out)
	}
	return &r, nil
}

// Leftovers asks every host a node uses what killed runs left there (the
// cleanup operation, dry run), in hosts file order: one report per host,
// nil for a host that could not be asked.
func (l *Launcher) Leftovers(ctx context.Context) []HostLeftovers {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	out := make([]HostLeftovers, len(l.sites))
	l.eachUsed(func(s *site) error {
		c, err := l.connect(ctx, s)
		var r *CleanupReport
		if err == nil {
			s.mu.Lock()
			helper := s.helper
			s.mu.Unlock()
			r, err = cleanupOn(ctx, c, helper, true)
		}
		for i := range l.sites {
			if l.sites[i] == s {
				out[i] = HostLeftovers{Host: s.host.Name, Report: r, Err: err}
			}
		}
		return nil
	})
	var used []HostLeftovers
	for _, h := range out {
		if h.Host != "" {
			used = append(used, h)
		}
	}
	return used
}

// HostLeftovers is what Leftovers found on one host.
type HostLeftovers struct {
	Host   string
	Report *CleanupReport // nil if Err
	Err    error
}
