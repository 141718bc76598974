package adaptertest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/load"
)

// Config says which plugin the kit checks and how.
type Config struct {
	// Plugin is the backend's binary.
	Plugin cluster.Plugin
	// Options is backend tuning passed to every node.
	Options adapter.Options
	// Raft is the shared Raft knobs passed to every node (zero: the
	// backend's production values).
	Raft adapter.Raft
	// DataRoot is where clusters keep data (default: system temp dir).
	DataRoot string
	// Timeout bounds each check (default 90 s).
	Timeout time.Duration
	// ConvergeTimeout bounds each wait for the nodes to apply the same log
	// (default 30 s); only a disagreement that outlasts it fails a check.
	ConvergeTimeout time.Duration
	// Only, if set, names the checks to run; the others are not run.
	Only []string
}

func (c *Config) defaults() {
	if c.Timeout == 0 {
		c.Timeout = 90 * time.Second
	}
	if c.ConvergeTimeout == 0 {
		c.ConvergeTimeout = 30 * time.Second
	}
}

// selected returns the checks cfg asks for.
func (c *Config) selected() []Check {
	var out []Check
	for _, ch := range Checks() {
		if len(c.Only) == 0 || slices.Contains(c.Only, ch.Name) {
			out = append(out, ch)
		}
	}
	return out
}

// Check is one conformance check: it starts its own cluster(s) and returns
// nil if the backend kept the contract, or what it did wrong. ErrSkipped
// (wrapped) means the check does not apply to this backend.
type Check struct {
	Name string
	Doc  string
	Run  func(ctx context.Context, k *Kit) error
}

// ErrSkipped is returned (wrapped, with the reason) by a check that does not
// apply to the backend, e.g. recovery for a backend without durable storage.
var ErrSkipped = errors.New("skipped")

// Kit is the state a check works with.
type Kit struct {
	cfg  Config
	desc adapter.Description
	seq  uint64
	mu   sync.Mutex
}

// Checks are the conformance checks, in the order they run.
func Checks() []Check {
	return []Check{
		{"describes-itself", "the plugin names its backend, its library module and a real version, and every supported storage mode", checkDescribesItself},
		{"leader-elected", "a leader is elected and every node applies its first entries within the deadline", checkLeaderElected},
		{"every-storage-mode", "in every storage mode the plugin supports, a concurrent load is applied everywhere: each node applies every acknowledged proposal", checkEveryStorageMode},
		{"replicated-in-order", "proposals are applied in the same order on every node: equal applied index, payload count and digest, equal to the proposer's own digest", checkReplicatedInOrder},
		{"propose-position", "Propose returns each acknowledged payload's position: 1, 2, 3 ... on a fresh cluster, equal to the proposer's applied payload count", checkProposePosition},
		{"read-modes", "Read serves each declared read mode (a linearizable or lease read after an acknowledged write reflects it, on the leader and on a follower unless it answers NotLeaderError; a stale read answers) and returns ErrUnsupported for every other mode", checkReadModes},
		{"follower-propose", "Propose on a follower forwards, or returns NotLeaderError naming the leader, as the plugin declares", checkFollowerPropose},
		{"leader-failover", "killing the leader yields a new leader and proposals continue", checkLeaderFailover},
		{"restart-recovers", "with durable storage, a node stopped and restarted recovers its log and catches up", checkRestartRecovers},
		{"snapshot-catch-up", "with durable storage, a follower killed while the leader compacts its log past it (snapshot=200,keep=100) catches up through a snapshot when restarted: it counts an install and applies the same payloads with the same digest", checkSnapshotCatchUp},
		{"status-consistent", "Status stays consistent under load: commit >= applied, term, applied index and payload count never decrease", checkStatusConsistent},
		{"settings-accounted", "Settings answers before Start, the same each time, with a source for every value, and accounts for every shared knob asked: applied as asked or reported not honoured", checkSettingsAccounted},
		{"membership", "with Membership declared, a follower is replaced under proposals (removed by the leader and stopped, a fresh node started to join and added by the leader) and every node, the new one included, applies the acknowledged log; ChangeMembership on a follower returns NotLeaderError", checkMembership},
		{"stop-releases", "Stop releases the node's Raft port and closes its files, while the process lives on", checkStopReleases},
	}
}

// Result is the outcome of one check.
type Result struct {
	Check Check
	Err   error // nil: passed
}

// Passed reports whether the check passed (a skipped check did not fail).
func (r Result) Passed() bool { return r.Err == nil || errors.Is(r.Err, ErrSkipped) }

// newKit describes cfg.Plugin and returns the kit its checks share.
func newKit(ctx context.Context, cfg Config) (*Kit, error) {
	cfg.defaults()
	desc, err := cluster.Describe(ctx, cfg.Plugin)
	if err != nil {
		return nil, fmt.Errorf("describe plugin %s: %w", cfg.Plugin.Path, err)
	}
	return &Kit{cfg: cfg, desc: desc}, nil
}

// RunAll runs every check against cfg.Plugin and calls report after each.
func RunAll(ctx context.Context, cfg Config, report func(Result)) ([]Result, error) {
	k, err := newKit(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var results []Result
	for _, c := range k.cfg.selected() {
		cctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
		r := Result{Check: c, Err: c.Run(cctx, k)}
		cancel()
		results = append(results, r)
		if report != nil {
			report(r)
		}
	}
	return results, nil
}

// Run runs every check as a subtest of t: the one call a backend's test
// makes.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	k, err := newKit(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range k.cfg.selected() {
		t.Run(c.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), k.cfg.Timeout)
			defer cancel()
			err := c.Run(ctx, k)
			switch {
			case errors.Is(err, ErrSkipped):
				t.Skip(err)
			case err != nil:
				t.Fatalf("%s: %v", c.Doc, err)
			}
		})
	}
}

// checkNodes is the cluster size of the checks: enough for a leader, a
// follower to stop or restart and a majority without either.
const checkNodes = 3

// start starts a cluster, preferring memory storage (fastest) unless
// durable is asked for. The caller must Stop it.
func (k *Kit) start(ctx context.Context, durable bool) (*cluster.Cluster, error) {
	storage := adapter.StorageDisk
	if !durable && k.desc.Capabilities.Supports(adapter.StorageMemory) {
		storage = adapter.StorageMemory
	}
	return k.startIn(ctx, storage, checkNodes)
}

// startIn starts a cluster of the given size and storage, or says why the
// check does not apply to a plugin that declares it cannot. The caller must
// Stop it.
func (k *Kit) startIn(ctx context.Context, storage adapter.Storage, nodes int) (*cluster.Cluster, error) {
	switch caps := k.desc.Capabilities; {
	case !caps.Supports(storage):
		return nil, fmt.Errorf("%w: the plugin supports no %s storage", ErrSkipped, storage)
	case !caps.Fits(nodes):
		return nil, fmt.Errorf("%w: the plugin forms clusters of at most %d nodes; the check needs %d", ErrSkipped, caps.MaxNodes, nodes)
	}
	return k.startUnchecked(ctx, storage, nodes)
}

// startUnchecked starts a cluster whatever the plugin declares.
func (k *Kit) startUnchecked(ctx context.Context, storage adapter.Storage, nodes int) (*cluster.Cluster, error) {
	return k.startReading(ctx, storage, nodes, "")
}

// startReading is startUnchecked for nodes started for consistent reads
// in mode (adapter.Config.ReadMode).
func (k *Kit) startReading(ctx context.Context, storage adapter.Storage, nodes int, mode adapter.ReadMode) (*cluster.Cluster, error) {
	return cluster.Start(ctx, cluster.Spec{
		Plugin: k.cfg.Plugin, Nodes: nodes, Storage: storage, Options: k.cfg.Options, Raft: k.cfg.Raft,
		DataRoot: k.cfg.DataRoot, ReadyTimeout: 30 * time.Second, ReadMode: mode,
	})
}

// follower returns a live member of c other than leader.
func follower(c *cluster.Cluster, leader *cluster.Member) *cluster.Member {
	for _, m := range c.Live() {
		if m.ID != leader.ID {
			return m
		}
	}
	return nil
}

// settle waits, up to the kit's ConvergeTimeout, for every live node of c
// to apply the same log, and returns their statuses.
func (k *Kit) settle(ctx context.Context, c *cluster.Cluster) ([]adapter.Status, error) {
	cctx, cancel := context.WithTimeout(ctx, k.cfg.ConvergeTimeout)
	defer cancel()
	return c.Converge(cctx, k.cfg.ConvergeTimeout)
}

// appliedWithin checks that every node applied from lo to hi payloads;
// what explains the bounds in the error.
func appliedWithin(st []adapter.Status, lo, hi uint64, what string) error {
	for _, s := range st {
		if s.AppliedPayloads < lo || s.AppliedPayloads > hi {
			return fmt.Errorf("node %d applied %d payloads; want %d..%d (%s)", s.ID, s.AppliedPayloads, lo, hi, what)
		}
	}
	return nil
}

// startLed starts a cluster (see start) and finds its leader. On success
// the caller must Stop the cluster; on error nothing is left running.
func (k *Kit) startLed(ctx context.Context, durable bool) (*cluster.Cluster, *cluster.Member, error) {
	c, err := k.start(ctx, durable)
	if err != nil {
		return nil, nil, err
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		c.Stop(ctx)
		return nil, nil, err
	}
	return c, leader, nil
}

// payload returns a fresh payload unique within the kit's run.
func (k *Kit) payload() []byte {
	k.mu.Lock()
	k.seq++
	n := k.seq
	k.mu.Unlock()
	p := make([]byte, 64)
	binary.LittleEndian.PutUint64(p, n)
	copy(p[8:], "raftcmp conformance payload")
	return p
}

// proposeN proposes n fresh payloads one at a time through m, folding each
// acknowledged one into d.
func (k *Kit) proposeN(ctx context.Context, m *cluster.Member, n int, d *adapter.Digest) error {
	for i := 0; i < n; i++ {
		p := k.payload()
		if _, err := m.Node().Propose(ctx, p); err != nil {
			return fmt.Errorf("proposal %d of %d through node %d: %w", i+1, n, m.ID, err)
		}
		d.Add(p)
	}
	return nil
}

// converge waits for every live node to apply the same log and checks it is
// the one the kit proposed: want payloads with digest sum.
func (k *Kit) converge(ctx context.Context, c *cluster.Cluster, want adapter.Digest) error {
	st, err := k.settle(ctx, c)
	if err != nil {
		return err
	}
	for _, s := range st {
		if s.AppliedPayloads != want.Count() || s.Digest != want.Sum() {
			return fmt.Errorf("node %d applied %d payloads with digest %016x; %d were acknowledged, in an order whose digest is %016x",
				s.ID, s.AppliedPayloads, s.Digest, want.Count(), want.Sum())
		}
	}
	return nil
}

func checkDescribesItself(ctx context.Context, k *Kit) error {
	d := k.desc
	switch {
	case d.Name == "":
		return errors.New("Describe gives no backend name")
	case d.Module == "":
		return errors.New("Describe gives no library module")
	case d.Version == "" || d.Version == "unknown":
		return fmt.Errorf("the version of %s is %q: the plugin must link the module it names", d.Module, d.Version)
	case len(d.Capabilities.Storage) == 0:
		return errors.New("Describe lists no storage mode")
	case d.PID <= 0 || d.PID == os.Getpid():
		return fmt.Errorf("the plugin reports pid %d", d.PID)
	}
	for _, m := range d.Capabilities.Storage {
		if !slices.Contains(adapter.StorageModes, m) {
			return fmt.Errorf("unknown storage mode %q in Describe", m)
		}
	}
	for _, m := range d.Capabilities.ReadModes {
		if !slices.Contains(adapter.ReadModes, m) {
			return fmt.Errorf("unknown read mode %q in Describe", m)
		}
	}
	return k.limitsKept(ctx)
}

// checkSettingsAccounted asks a fresh plugin process what it would run under
// the production profile, the uniform one and a set of unusual values. A
// knob may be both applied and not honoured: the value set as asked, but
// the library acting on it only approximately (a snapshot threshold checked
// on a timer); the reason says how.
func checkSettingsAccounted(ctx context.Context, k *Kit) error {
	odd := adapter.Raft{
		ElectionTimeout: 1234 * time.Millisecond, HeartbeatInterval: 77 * time.Millisecond,
		PreVote: adapter.SwitchOff, CheckQuorum: adapter.SwitchOff,
		MaxAppendEntries: 7, MaxInflightAppends: 3, SnapshotEntries: 500, KeepEntries: 77,
	}
	sources := []string{adapter.SourceLibrary, adapter.SourceProduction, adapter.SourceRaftcmp, adapter.SourceRequested}
	nodes := checkNodes
	if !k.desc.Capabilities.Fits(nodes) {
		nodes = k.desc.Capabilities.MaxNodes
	}
	for _, tc := range []struct {
		name string
		raft adapter.Raft
	}{{"production", k.cfg.Raft}, {"uniform", adapter.Uniform.Over(k.cfg.Raft)}, {"unusual values", odd}} {
		cfg := adapter.Config{Storage: k.desc.Capabilities.Storage[0], Options: k.cfg.Options, Raft: tc.raft}
		_, first, err := cluster.Settings(ctx, k.cfg.Plugin, nodes, cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", tc.name, err)
		}
		_, again, err := cluster.Settings(ctx, k.cfg.Plugin, nodes, cfg)
		if err != nil {
			return fmt.Errorf("%s, asked again: %w", tc.name, err)
		}
		if !reflect.DeepEqual(first, again) {
			return fmt.Errorf("%s: Settings answered differently when asked again: %+v, then %+v", tc.name, first, again)
		}
		for _, v := range first.Values {
			if v.Name == "" || !slices.Contains(sources, v.Source) {
				return fmt.Errorf("%s: setting %+v has no name or a source other than %s", tc.name, v, strings.Join(sources, ", "))
			}
		}
		for _, knob := range adapter.Knobs {
			asked := tc.raft.Value(knob)
			if asked == "" {
				continue
			}
			applied := slices.IndexFunc(first.Values, func(v adapter.Setting) bool { return v.Knob == knob && v.Value == asked })
			refused := slices.IndexFunc(first.Unhonoured, func(u adapter.Unhonoured) bool { return u.Knob == knob })
			switch {
			case applied < 0 && refused < 0:
				return fmt.Errorf("%s: %s=%s is neither applied (a Setting with that knob and value) nor reported not honoured", tc.name, knob, asked)
			case refused >= 0 && first.Unhonoured[refused].Reason == "":
				return fmt.Errorf("%s: %s=%s is not honoured, without a reason", tc.name, knob, asked)
			}
		}
	}
	return nil
}

// limitsKept checks that what the plugin declares it cannot do, it refuses:
// Start of a cluster larger than MaxNodes returns ErrUnsupported, so that
// raftcmp's check before a run and the plugin agree.
func (k *Kit) limitsKept(ctx context.Context) error {
	caps := k.desc.Capabilities
	if caps.MaxNodes == 0 {
		return nil
	}
	c, err := k.startUnchecked(ctx, caps.Storage[0], caps.MaxNodes+1)
	if err == nil {
		c.Stop(ctx)
		return fmt.Errorf("Describe says at most %d nodes, but a cluster of %d started", caps.MaxNodes, caps.MaxNodes+1)
	}
	if !errors.Is(err, adapter.ErrUnsupported) {
		return fmt.Errorf("Describe says at most %d nodes; a cluster of %d failed with %v, want ErrUnsupported", caps.MaxNodes, caps.MaxNodes+1, err)
	}
	return nil
}

func checkEveryStorageMode(ctx context.Context, k *Kit) error {
	for _, storage := range k.desc.Capabilities.Storage {
		if err := k.loadIn(ctx, storage); err != nil {
			return fmt.Errorf("storage %s: %w", storage, err)
		}
	}
	return nil
}

// loadIn runs a short concurrent load on a fresh cluster with the given
// storage and checks every node applied every acknowledged proposal.
func (k *Kit) loadIn(ctx context.Context, storage adapter.Storage) error {
	c, err := k.startIn(ctx, storage, checkNodes)
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	leader, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	res, err := leader.Node().RunLoad(ctx, load.Spec{Threads: 4, PayloadBytes: 256, Duration: 500 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if res.Ops == 0 {
		return fmt.Errorf("no proposal was applied in the window (errors %v)", res.Errors)
	}
	st, err := k.settle(ctx, c)
	if err != nil {
		return err
	}
	return appliedWithin(st, res.Acked, res.Acked+res.ErrorCount(),
		fmt.Sprintf("%d acknowledged + up to %d failed", res.Acked, res.ErrorCount()))
}

func checkLeaderElected(ctx context.Context, k *Kit) error {
	c, err := k.start(ctx, false)
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	st, errs := c.Statuses(ctx)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	leaders := 0
	for _, s := range st {
		if s.Role == adapter.RoleLeader {
			leaders++
		}
		if s.ID == 0 {
			return fmt.Errorf("a node reports id 0")
		}
	}
	if leaders != 1 {
		return fmt.Errorf("%d nodes report themselves leader right after election, want 1", leaders)
	}
	return nil
}

func checkReplicatedInOrder(ctx context.Context, k *Kit) error {
	c, leader, err := k.startLed(ctx, false)
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	var d adapter.Digest
	if err := k.proposeN(ctx, leader, 200, &d); err != nil {
		return err
	}
	if err := k.converge(ctx, c, d); err != nil {
		return fmt.Errorf("after 200 sequential proposals: %w", err)
	}
	// Then a concurrent burst, long enough to pass a thousand entries.
	res, err := leader.Node().RunLoad(ctx, load.Spec{Threads: 4, PayloadBytes: 128, Duration: time.Second})
	if err != nil {
		return fmt.Errorf("concurrent load: %w", err)
	}
	st, err := k.settle(ctx, c)
	if err != nil {
		return fmt.Errorf("after a concurrent load of %d proposals: %w", res.Acked, err)
	}
	// A failed proposal may still have been applied; an acknowledged one
	// must have been.
	lo := d.Count() + res.Acked
	return appliedWithin(st, lo, lo+res.ErrorCount(),
		fmt.Sprintf("%d sequential + %d acknowledged + up to %d failed", d.Count(), res.Acked, res.ErrorCount()))
}

// checkProposePosition proposes sequentially on a fresh cluster's leader:
// the n-th acknowledged payload is the n-th the leader applied.
func checkProposePosition(ctx context.Context, k *Kit) error {
	c, leader, err := k.startLed(ctx, false)
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	for i := uint64(1); i <= 20; i++ {
		pos, err := leader.Node().Propose(ctx, k.payload())
		if err != nil {
			return fmt.Errorf("proposal %d through node %d: %w", i, leader.ID, err)
		}
		if pos != i {
			return fmt.Errorf("proposal %d on a fresh cluster returned position %d; want %d", i, pos, i)
		}
	}
	st, err := leader.Node().Status(ctx)
	if err != nil {
		return err
	}
	if st.AppliedPayloads != 20 {
		return fmt.Errorf("after 20 acknowledged proposals node %d reports %d applied payloads", leader.ID, st.AppliedPayloads)
	}
	return nil
}

// checkReadModes writes through the leader and reads in every mode: each
// declared mode answers, a linearizable or lease read reflects the write
// acknowledged before it (on the leader, and on a follower unless that
// follower refuses with NotLeaderError), and every undeclared mode is
// refused with ErrUnsupported. The lease mode runs on a cluster of its own,
// started for it (adapter.Config.ReadMode).
func checkReadModes(ctx context.Context, k *Kit) error {
	if err := k.readModesOn(ctx, adapter.ReadLinearizable); err != nil {
		return err
	}
	if k.desc.Capabilities.SupportsRead(adapter.ReadLease) {
		return k.readModesOn(ctx, adapter.ReadLease)
	}
	return nil
}

// readModesOn runs checkReadModes on a cluster started for consistent reads
// in started: every mode but the other consistent one.
func (k *Kit) readModesOn(ctx context.Context, started adapter.ReadMode) error {
	if !k.desc.Capabilities.Fits(checkNodes) {
		return fmt.Errorf("%w: the plugin forms clusters of at most %d nodes; the check needs %d", ErrSkipped, k.desc.Capabilities.MaxNodes, checkNodes)
	}
	storage := adapter.StorageDisk
	if k.desc.Capabilities.Supports(adapter.StorageMemory) {
		storage = adapter.StorageMemory
	}
	c, err := k.startReading(ctx, storage, checkNodes, started)
	if err != nil {
		return fmt.Errorf("start a cluster for %s reads: %w", started, err)
	}
	defer c.Stop(ctx)
	leader, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	members := []*cluster.Member{leader}
	if f := follower(c, leader); f != nil {
		members = append(members, f)
	}
	var d adapter.Digest
	for _, mode := range adapter.ReadModes {
		other := adapter.ReadLease
		if started == adapter.ReadLease {
			other = adapter.ReadLinearizable
		}
		if mode == other && k.desc.Capabilities.SupportsRead(mode) {
			continue // checked on its own cluster
		}
		if !k.desc.Capabilities.SupportsRead(mode) {
			_, err := leader.Node().Read(ctx, mode)
			if !errors.Is(err, adapter.ErrUnsupported) {
				return fmt.Errorf("read mode %s is not declared, but Read on node %d answered %v; want ErrUnsupported", mode, leader.ID, err)
			}
			continue
		}
		for _, m := range members {
			p := k.payload()
			pos, err := leader.Node().Propose(ctx, p)
			if err != nil {
				return fmt.Errorf("proposal through node %d: %w", leader.ID, err)
			}
			d.Add(p)
			rs, err := m.Node().Read(ctx, mode)
			var nl *adapter.NotLeaderError
			switch {
			case m != leader && mode != adapter.ReadStale && errors.As(err, &nl):
				if nl.Leader != leader.ID {
					return fmt.Errorf("%s read on follower %d: NotLeaderError names node %d; the leader is node %d", mode, m.ID, nl.Leader, leader.ID)
				}
				continue
			case err != nil:
				return fmt.Errorf("%s read on node %d: %w", mode, m.ID, err)
			case mode == adapter.ReadStale && m != leader:
				continue // a follower's local state may lag: any answer will do
			case rs.AppliedPayloads < pos:
				return fmt.Errorf("%s read on node %d saw %d payloads after the write at position %d was acknowledged: a stale read", mode, m.ID, rs.AppliedPayloads, pos)
			case rs.AppliedPayloads == d.Count() && rs.Digest != d.Sum():
				return fmt.Errorf("%s read on node %d saw %d payloads with digest %016x; the kit's %d payloads have digest %016x", mode, m.ID, rs.AppliedPayloads, rs.Digest, d.Count(), d.Sum())
			}
		}
	}
	if _, err := leader.Node().Read(ctx, "bogus"); !errors.Is(err, adapter.ErrUnsupported) {
		return fmt.Errorf("Read in an unknown mode on node %d answered %v; want ErrUnsupported", leader.ID, err)
	}
	return nil
}

func checkFollowerPropose(ctx context.Context, k *Kit) error {
	c, leader, err := k.startLed(ctx, false)
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	follower := follower(c, leader)
	before, err := follower.Node().Status(ctx)
	if err != nil {
		return err
	}
	_, err = follower.Node().Propose(ctx, k.payload())
	if k.desc.Capabilities.ForwardsProposals {
		if err != nil {
			return fmt.Errorf("plugin declares it forwards proposals, but Propose on follower %d failed: %w", follower.ID, err)
		}
		after, err := follower.Node().Status(ctx)
		if err != nil {
			return err
		}
		if after.AppliedPayloads <= before.AppliedPayloads {
			return fmt.Errorf("Propose on follower %d returned before the entry was applied there (%d payloads before and after)", follower.ID, after.AppliedPayloads)
		}
		return nil
	}
	var nl *adapter.NotLeaderError
	switch {
	case err == nil:
		return fmt.Errorf("plugin declares it does not forward, but Propose on follower %d succeeded", follower.ID)
	case !errors.As(err, &nl):
		return fmt.Errorf("Propose on follower %d: %v; want NotLeaderError", follower.ID, err)
	case nl.Leader != leader.ID:
		return fmt.Errorf("follower %d's NotLeaderError names node %d as leader; the leader is node %d", follower.ID, nl.Leader, leader.ID)
	}
	return nil
}

func checkLeaderFailover(ctx context.Context, k *Kit) error {
	c, old, err := k.startLed(ctx, false)
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	var d adapter.Digest
	if err := k.proposeN(ctx, old, 50, &d); err != nil {
		return err
	}
	if err := c.KillMember(old.ID); err != nil {
		return err
	}
	if err := c.WaitReady(ctx); err != nil {
		return fmt.Errorf("after killing leader node %d: %w", old.ID, err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		return err
	}
	if leader.ID == old.ID {
		return fmt.Errorf("killed node %d is still reported leader", old.ID)
	}
	if err := k.proposeN(ctx, leader, 50, &d); err != nil {
		return fmt.Errorf("after failover to node %d: %w", leader.ID, err)
	}
	return k.converge(ctx, c, d)
}

func checkRestartRecovers(ctx context.Context, k *Kit) error {
	c, leader, err := k.startLed(ctx, true)
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	var d adapter.Digest
	if err := k.proposeN(ctx, leader, 100, &d); err != nil {
		return err
	}
	follower := follower(c, leader)
	if err := k.converge(ctx, c, d); err != nil {
		return err
	}
	if err := c.StopMember(ctx, follower.ID); err != nil {
		return err
	}
	if err := k.proposeN(ctx, leader, 100, &d); err != nil {
		return fmt.Errorf("with follower %d stopped: %w", follower.ID, err)
	}
	if err := c.RestartMember(ctx, follower.ID); err != nil {
		return fmt.Errorf("restart follower %d: %w", follower.ID, err)
	}
	if err := k.converge(ctx, c, d); err != nil {
		return fmt.Errorf("after restarting follower %d: %w", follower.ID, err)
	}
	return nil
}

func checkStatusConsistent(ctx context.Context, k *Kit) error {
	c, leader, err := k.startLed(ctx, false)
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var loadErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		_, loadErr = leader.Node().RunLoad(lctx, load.Spec{Threads: 4, PayloadBytes: 128, Duration: time.Second})
	}()
	prev := map[uint64]adapter.Status{}
	var violation error
	polls := 0
	for lctx.Err() == nil && violation == nil {
		st, errs := c.Statuses(lctx)
		polls++
		for i, s := range st {
			if errs[i] != nil {
				continue
			}
			p, seen := prev[s.ID]
			switch {
			case s.Commit < s.Applied:
				violation = fmt.Errorf("node %d reports commit %d below applied %d", s.ID, s.Commit, s.Applied)
			case seen && s.Term < p.Term:
				violation = fmt.Errorf("node %d's term went from %d to %d", s.ID, p.Term, s.Term)
			case seen && s.Applied < p.Applied:
				violation = fmt.Errorf("node %d's applied index went from %d to %d", s.ID, p.Applied, s.Applied)
			case seen && s.AppliedPayloads < p.AppliedPayloads:
				violation = fmt.Errorf("node %d's applied payload count went from %d to %d", s.ID, p.AppliedPayloads, s.AppliedPayloads)
			case s.ID != c.Live()[i].ID:
				violation = fmt.Errorf("node %d reports id %d", c.Live()[i].ID, s.ID)
			}
			prev[s.ID] = s
		}
	}
	cancel()
	<-done
	if violation != nil {
		return violation
	}
	if loadErr != nil && !errors.Is(loadErr, context.Canceled) {
		return fmt.Errorf("load: %w", loadErr)
	}
	if polls < 2 {
		return fmt.Errorf("status was polled only %d times during the load", polls)
	}
	return nil
}

func checkStopReleases(ctx context.Context, k *Kit) error {
	c, leader, err := k.startLed(ctx, true)
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	var d adapter.Digest
	if err := k.proposeN(ctx, leader, 20, &d); err != nil {
		return err
	}
	m := follower(c, leader)
	if err := m.Node().Stop(ctx); err != nil {
		return fmt.Errorf("stop node %d: %w", m.ID, err)
	}
	if m.Exited() {
		return fmt.Errorf("node %d's process exited on Stop; it must stay up until raftcmp ends it", m.ID)
	}
	l, err := net.Listen("tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("node %d's Raft address %s still in use after Stop: %w", m.ID, m.Addr, err)
	}
	l.Close()
	if open := openFilesUnder(m.PID(), m.DataDir); len(open) > 0 {
		return fmt.Errorf("node %d still holds %d files in its data dir after Stop: %s", m.ID, len(open), strings.Join(open, ", "))
	}
	return nil
}

// openFilesUnder lists the files process pid holds open below dir.
func openFilesUnder(pid int, dir string) []string {
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return nil
	}
	var open []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err == nil && strings.HasPrefix(target, dir+"/") {
			open = append(open, target)
		}
	}
	return open
}
