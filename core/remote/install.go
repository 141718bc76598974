package remote

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/raftcmp/raftcmp/core/cluster"
)

// ErrChecksum is wrapped by the refusal of a binary whose SHA-256 on the
// host is not the one raftcmp verified locally.
var ErrChecksum = errors.New("SHA-256 mismatch")

// Subdirectories of a host's dir that raftcmp makes.
const (
	binSubdir  = "bin"  // binaries, by name and checksum
	runSubdir  = "run"  // one socket directory per node process
	dataSubdir = "data" // one directory per cluster, one per node in it
	// cgroupsSubdir holds one empty file per cgroup raftcmp made on the
	// host, named after it: made before the group, removed after it, so
	// that cleanup --hosts knows the host's raftcmp cgroups as its own.
	cgroupsSubdir = "cgroups"
)

// install puts the local binary at local, whose SHA-256 is sum, in the
// host's dir/bin (as NAME-<first 16 hex digits of sum>), computes its
// SHA-256 on the host, and returns its path there. A copy already there
// from an earlier run is verified, not copied again; within a run each
// binary is installed once per host (the caller caches the path). A copy
// on the host with another checksum is refused, naming host and file.
func (c *conn) install(ctx context.Context, local string, sum []byte) (string, error) {
	want := hex.EncodeToString(sum)
	dir := path.Join(c.host.Dir, binSubdir)
	target := path.Join(dir, filepath.Base(local)+"-"+want[:16])
	fc, err := c.files()
	if err != nil {
		return "", err
	}
	if err := makeDir(c, dir); err != nil {
		return "", err
	}
	if _, err := fc.Stat(target); err == nil {
		return target, c.verify(ctx, target, want)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("stat %s: %w", target, err)
	}
	if err := checkStatic(local); err != nil {
		return "", err
	}
	var tag [6]byte
	rand.Read(tag[:])
	tmp := path.Join(dir, fmt.Sprintf(".%s.%x.upload", filepath.Base(target), tag))
	if err := c.upload(local, tmp, want); err != nil {
		fc.Remove(tmp)
		return "", err
	}
	if err := c.verify(ctx, tmp, want); err != nil {
		fc.Remove(tmp)
		return "", err
	}
	if err := fc.PosixRename(tmp, target); err != nil {
		fc.Remove(tmp)
		return "", fmt.Errorf("rename %s to %s: %w", tmp, target, err)
	}
	return target, nil
}

// upload copies local to remote (mode 0700), checking on the way that the
// local file still has the checksum it was verified with.
func (c *conn) upload(local, remote, want string) error {
	fc, err := c.files()
	if err != nil {
		return err
	}
	src, err := os.Open(local)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := fc.OpenFile(remote, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create %s: %w", remote, err)
	}
	h := sha256.New()
	if _, err := dst.ReadFrom(io.TeeReader(src, h)); err != nil {
		dst.Close()
		return fmt.Errorf("copy %s to %s: %w", local, remote, err)
	}
	if err := dst.Chmod(0o700); err != nil {
		dst.Close()
		return fmt.Errorf("chmod %s: %w", remote, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("write %s: %w", remote, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: local %s has SHA-256 %s, not the %s it was verified with (rebuilt during the run?)", ErrChecksum, local, got, want)
	}
	return nil
}

// verify computes file's SHA-256 on the host (sha256sum, from coreutils)
// and refuses it unless it is want.
func (c *conn) verify(ctx context.Context, file, want string) error {
	out, err := c.run(ctx, "sha256sum", "--", file)
	if err != nil {
		return fmt.Errorf("sha256sum %s: %w", file, err)
	}
	got, _, _ := strings.Cut(string(out), " ")
	if got != want {
		return fmt.Errorf("%w: %s has SHA-256 %s on the host, not the %s raftcmp verified locally: refused (remove the file to have it copied again)", ErrChecksum, file, got, want)
	}
	return nil
}

// makeDir creates dir on the host (and its parents), readable by its
// owner only.
func makeDir(c *conn, dir string) error {
	fc, err := c.files()
	if err != nil {
		return err
	}
	if err := fc.MkdirAll(dir); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := fc.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// checkStatic refuses a dynamically linked binary: a host need not have
// this machine's C library. raftcmp and its plugins are built with
// CGO_ENABLED=0, which links them statically.
func checkStatic(file string) error {
	f, err := elf.Open(file)
	if err != nil {
		return fmt.Errorf("%s: not a Linux executable: %w", file, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; hosts run static binaries: build it with CGO_ENABLED=0 (make does)", file)
		}
	}
	return nil
}

// localSum is the SHA-256 a binary was verified with, or else its
// current one (a plugin run with --insecure-plugin has none recorded: the
// copy on the host is then checked against the local file).
func localSum(file string, verified []byte) ([]byte, error) {
	if verified != nil {
		return verified, nil
	}
	return cluster.FileSum(file)
}
