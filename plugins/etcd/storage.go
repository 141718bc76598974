package etcd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/server/v3/etcdserver/api/snap"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// diskStore is the durable half of storage disk and tmpfs: etcd's WAL for
// HardState and entries and etcd's snapshotter for snapshot files, laid
// out as the etcd server lays out its member directory (wal/, snap/).
type diskStore struct {
	wal   *wal.WAL
	snaps *snap.Snapshotter
}

// newZapLogger is the logger etcd's storage packages get: warnings and
// errors to stderr.
func newZapLogger() *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(os.Stderr), zapcore.WarnLevel))
}

// openDisk opens (or, on a fresh DataDir, creates) the WAL and snapshot
// directory of node id under dataDir and loads what they hold into mem.
// It returns the snapshot mem was restored from (nil if none) and whether
// the WAL existed, i.e. whether this is a restart.
func openDisk(dataDir string, id uint64, mem *raft.MemoryStorage, lg *zap.Logger) (d *diskStore, snapshot *raftpb.Snapshot, existed bool, err error) {
	walDir := filepath.Join(dataDir, "wal")
	snapDir := filepath.Join(dataDir, "snap")
	if err := os.MkdirAll(snapDir, 0o700); err != nil {
		return nil, nil, false, fmt.Errorf("create snapshot dir: %w", err)
	}
	d = &diskStore{snaps: snap.New(lg, snapDir)}
	meta := binary.BigEndian.AppendUint64(nil, id)
	if !wal.Exist(walDir) {
		// wal.Create builds the directory itself (atomically, through a
		// temporary one) and refuses one that exists.
		w, err := wal.Create(lg, walDir, meta)
		if err != nil {
			return nil, nil, false, fmt.Errorf("create wal: %w", err)
		}
		d.wal = w
		return d, nil, false, nil
	}

	walSnaps, err := wal.ValidSnapshotEntries(lg, walDir)
	if err != nil {
		return nil, nil, true, fmt.Errorf("list wal snapshots: %w", err)
	}
	snapshot, err = d.snaps.LoadNewestAvailable(walSnaps)
	switch {
	case errors.Is(err, snap.ErrNoSnapshot):
		snapshot = nil
	case err != nil:
		return nil, nil, true, fmt.Errorf("load snapshot: %w", err)
	}
	start := &walpb.Snapshot{Index: new(uint64(0)), Term: new(uint64(0))}
	if snapshot != nil {
		md := snapshot.GetMetadata()
		start = &walpb.Snapshot{Index: new(md.GetIndex()), Term: new(md.GetTerm()), ConfState: md.GetConfState()}
	}
	w, err := wal.Open(lg, walDir, start)
	if err != nil {
		return nil, nil, true, fmt.Errorf("open wal: %w", err)
	}
	gotMeta, st, ents, err := w.ReadAll()
	if err != nil {
		w.Close()
		return nil, nil, true, fmt.Errorf("read wal: %w", err)
	}
	if len(gotMeta) != 8 || binary.BigEndian.Uint64(gotMeta) != id {
		w.Close()
		return nil, nil, true, fmt.Errorf("wal in %s belongs to another node (metadata %x), not node %d", walDir, gotMeta, id)
	}
	d.wal = w
	if snapshot != nil {
		if err := mem.ApplySnapshot(snapshot); err != nil {
			w.Close()
			return nil, nil, true, fmt.Errorf("restore snapshot into memory storage: %w", err)
		}
	}
	if err := mem.SetHardState(st); err != nil {
		w.Close()
		return nil, nil, true, fmt.Errorf("restore hard state: %w", err)
	}
	if err := mem.Append(ents); err != nil {
		w.Close()
		return nil, nil, true, fmt.Errorf("restore entries: %w", err)
	}
	return d, snapshot, true, nil
}

// saveSnapshot makes snapshot durable in the order etcd uses: the snapshot
// file first, then its record in the WAL (so a WAL record never names a
// missing file), then the WAL may drop segments the snapshot covers.
func (d *diskStore) saveSnapshot(s *raftpb.Snapshot) error {
	md := s.GetMetadata()
	if err := d.snaps.SaveSnap(s); err != nil {
		return fmt.Errorf("save snapshot file: %w", err)
	}
	ws := &walpb.Snapshot{Index: new(md.GetIndex()), Term: new(md.GetTerm()), ConfState: md.GetConfState()}
	if err := d.wal.SaveSnapshot(ws); err != nil {
		return fmt.Errorf("save snapshot to wal: %w", err)
	}
	if err := d.wal.ReleaseLockTo(md.GetIndex()); err != nil {
		return fmt.Errorf("release wal segments: %w", err)
	}
	return nil
}

// save appends HardState and entries to the WAL; the WAL fsyncs when they
// require it (raft.MustSync: new entries, term or vote).
func (d *diskStore) save(st *raftpb.HardState, ents []*raftpb.Entry) error {
	if err := d.wal.Save(st, ents); err != nil {
		return fmt.Errorf("save to wal: %w", err)
	}
	return nil
}

func (d *diskStore) close() error {
	if err := d.wal.Close(); err != nil {
		return fmt.Errorf("close wal: %w", err)
	}
	return nil
}
