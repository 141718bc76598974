package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DeviceOf returns the block device (major, minor) to give SetIOLimit for
// I/O on the file system holding path.
//
// It starts from the st_dev of path. If /sys/dev/block/MAJ:MIN shows that
// device is a partition (it has a "partition" attribute), it resolves to the
// whole disk holding it, since blkio/io throttling accepts only whole disks.
// Device-mapper, md and other stacked devices are whole disks with their own
// request queue and are returned as they are: throttling on them applies to
// the I/O the file system submits (e.g. an LVM volume, not the physical
// disks under it). A file system on no block device (tmpfs, overlayfs, NFS,
// btrfs subvolumes with anonymous device numbers) is an error.
func DeviceOf(path string) (major, minor uint64, err error) {
	return deviceOf(path, "/sys")
}

func deviceOf(path, sys string) (major, minor uint64, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, fmt.Errorf("find block device of %s: %w", path, err)
	}
	major, minor = uint64(unix.Major(st.Dev)), uint64(unix.Minor(st.Dev))
	dev := filepath.Join(sys, "dev", "block", fmt.Sprintf("%d:%d", major, minor))
	real, err := filepath.EvalSymlinks(dev)
	if err != nil {
		return 0, 0, fmt.Errorf("find block device of %s: device %d:%d is not a block device (tmpfs, overlayfs, network or btrfs subvolume?), so its I/O cannot be throttled: %w", path, major, minor, err)
	}
	if _, err := os.Stat(filepath.Join(real, "partition")); errors.Is(err, os.ErrNotExist) {
		return major, minor, nil
	}
	// A partition's sysfs directory sits inside its disk's directory.
	disk := filepath.Dir(real)
	s, err := readFileString(filepath.Join(disk, "dev"))
	if err != nil {
		return 0, 0, fmt.Errorf("find block device of %s: find the disk holding partition %d:%d: %w", path, major, minor, err)
	}
	ma, mi, ok := strings.Cut(s, ":")
	dmaj, err1 := strconv.ParseUint(ma, 10, 32)
	dmin, err2 := strconv.ParseUint(mi, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("find block device of %s: bad device number %q in %s", path, s, filepath.Join(disk, "dev"))
	}
	return dmaj, dmin, nil
}
