package cluster

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ManifestFile is the checksum manifest beside plugin binaries, in
// sha256sum's format ("<hex>  <file name>"), written by make (and by
// adaptertest.BuildPlugin for tests).
const ManifestFile = "plugins.sha256"

// ErrUntrusted is wrapped by Verify's refusals.
var ErrUntrusted = errors.New("plugin refused")

// Verify decides whether raftcmp may run plugin p, which it does as root
// when faults need cgroups. The plugin must be listed in the manifest
// beside it with its current SHA-256; when raftcmp runs as root, neither
// the binary nor its directory may be writable by group or others (anyone
// who could replace it would run code as root). On success p.Checksum is
// set, and go-plugin checks the binary against it again right before
// executing it. Tests and development builds are named explicitly with
// --insecure-plugin instead.
func Verify(p *Plugin) error {
	dir := filepath.Dir(p.Path)
	if os.Geteuid() == 0 {
		for _, path := range []string{p.Path, dir} {
			fi, err := os.Stat(path)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrUntrusted, path, err)
			}
			if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
				return fmt.Errorf("%w: %s is writable by group or others (mode %v) and raftcmp runs as root; fix the permissions or pass --insecure-plugin %s", ErrUntrusted, path, fi.Mode().Perm(), p.Path)
			}
		}
	}
	want, err := manifestSum(filepath.Join(dir, ManifestFile), filepath.Base(p.Path))
	if err != nil {
		return fmt.Errorf("%w: %s: %v; rebuild with make, or pass --insecure-plugin %s", ErrUntrusted, p.Path, err, p.Path)
	}
	got, err := FileSum(p.Path)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUntrusted, p.Path, err)
	}
	if hex.EncodeToString(got) != want {
		return fmt.Errorf("%w: %s: SHA-256 %x does not match %s in %s; rebuild with make, or pass --insecure-plugin %s",
			ErrUntrusted, p.Path, got, want, filepath.Join(dir, ManifestFile), p.Path)
	}
	p.Checksum = got
	return nil
}

// Admit decides whether raftcmp may run plugin p: Verify, unless p's binary
// is one of insecure (the paths given with --insecure-plugin, which may be
// spelled any way that names the same file). A plugin admitted unchecked
// has no Checksum.
func Admit(p *Plugin, insecure []string) error {
	for _, path := range insecure {
		if sameFile(path, p.Path) {
			p.Checksum = nil
			return nil
		}
	}
	return Verify(p)
}

// sameFile reports whether two paths name the same existing file.
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// FileSum is the SHA-256 of a file.
func FileSum(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// WriteManifest writes dir's manifest for the plugin binaries in it.
func WriteManifest(dir string) error {
	var b strings.Builder
	for _, p := range Discover([]string{dir}) {
		sum, err := FileSum(p.Path)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%x  %s\n", sum, filepath.Base(p.Path))
	}
	return os.WriteFile(filepath.Join(dir, ManifestFile), []byte(b.String()), 0o644)
}

// manifestSum finds name's checksum in a manifest.
func manifestSum(manifest, name string) (string, error) {
	f, err := os.Open(manifest)
	if err != nil {
		return "", fmt.Errorf("no checksum manifest (%v)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if ok && strings.TrimPrefix(file, "*") == name {
			return sum, nil
		}
	}
	return "", fmt.Errorf("not listed in %s", manifest)
}
