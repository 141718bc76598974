package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDeviceOfSysfs resolves the device of a temp dir against fake
// /sys/dev/block layouts.
func TestDeviceOfSysfs(t *testing.T) {
	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	devNum := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))

	// layout builds a fake sysfs: /dev/block/<devNum> -> devPath, with the
	// given files (relative to the fake root) created.
	layout := func(t *testing.T, devPath string, files map[string]string) string {
		sys := t.TempDir()
		for f, content := range files {
			p := filepath.Join(sys, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			writeTestFile(t, p, content)
		}
		if devPath != "" {
			if err := os.MkdirAll(filepath.Join(sys, devPath), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(sys, "dev", "block"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join("..", "..", devPath), filepath.Join(sys, "dev", "block", devNum)); err != nil {
				t.Fatal(err)
			}
		}
		return sys
	}
	tests := []struct {
		name         string
		devPath      string
		files        map[string]string
		major, minor uint64
		wantErr      bool
	}{
		{"whole disk", "devices/virtio1/block/vda", map[string]string{"devices/virtio1/block/vda/dev": devNum + "\n"},
			uint64(unix.Major(st.Dev)), uint64(unix.Minor(st.Dev)), false},
		{"partition", "devices/pci/block/sda/sda2", map[string]string{
			"devices/pci/block/sda/dev":            "8:0\n",
			"devices/pci/block/sda/sda2/dev":       devNum + "\n",
			"devices/pci/block/sda/sda2/partition": "2\n",
		}, 8, 0, false},
		{"nvme partition", "devices/nvme/nvme0n1/nvme0n1p1", map[string]string{
			"devices/nvme/nvme0n1/dev":                 "259:0\n",
			"devices/nvme/nvme0n1/nvme0n1p1/partition": "1\n",
		}, 259, 0, false},
		{"device mapper kept", "devices/virtual/block/dm-0", map[string]string{
			"devices/virtual/block/dm-0/dev":     devNum + "\n",
			"devices/virtual/block/dm-0/dm/name": "vg-root\n",
		}, uint64(unix.Major(st.Dev)), uint64(unix.Minor(st.Dev)), false},
		{"not a block device", "", nil, 0, 0, true},
		{"partition with bad disk dev", "devices/pci/block/sdb/sdb1", map[string]string{
			"devices/pci/block/sdb/dev":            "garbage\n",
			"devices/pci/block/sdb/sdb1/partition": "1\n",
		}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := layout(t, tt.devPath, tt.files)
			major, minor, err := deviceOf(dir, sys)
			if (err != nil) != tt.wantErr {
				t.Fatalf("deviceOf error = %v, want error %t", err, tt.wantErr)
			}
			if !tt.wantErr && (major != tt.major || minor != tt.minor) {
				t.Errorf("deviceOf = %d:%d, want %d:%d", major, minor, tt.major, tt.minor)
			}
		})
	}
	if _, _, err := DeviceOf(filepath.Join(dir, "missing")); err == nil {
		t.Error("DeviceOf of a missing path succeeded")
	}
}
