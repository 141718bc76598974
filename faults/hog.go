package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// HogEnv, set in a process's environment, turns a re-executed raftcmp (or
// test binary) into a competing load: "cpu" spins, "disk:PATH" writes and
// fdatasyncs 4 KiB blocks to PATH. raftcmp re-executes itself rather than
// run a shell loop or an external tool, so the hog is present wherever
// raftcmp is and no command line is built by hand.
const HogEnv = "RAFTCMP_FAULT_HOG"

// MaybeRunHog must be called first in main (and in TestMain of tests that
// use hog faults): in a hog process it runs the hog until killed and never
// returns; in any other process it returns at once.
func MaybeRunHog() {
	mode := os.Getenv(HogEnv)
	if mode == "" {
		return
	}
	switch {
	case mode == "cpu":
		runtime.GOMAXPROCS(1)
		spin()
	case len(mode) > 5 && mode[:5] == "disk:":
		block, _ := strconv.Atoi(os.Getenv(HogEnv + "_BLOCK"))
		if err := diskHog(mode[5:], max(block, 512)); err != nil {
			fmt.Fprintln(os.Stderr, "raftcmp disk hog:", err)
			os.Exit(1)
		}
	}
	fmt.Fprintf(os.Stderr, "raftcmp: unknown %s=%q\n", HogEnv, mode)
	os.Exit(2)
}

// spin burns CPU until the process is killed.
func spin() {
	x := uint64(1)
	for {
		x = x*6364136223846793005 + 1442695040888963407
		if x == 0 {
			time.Sleep(0) // never taken; keeps x live
		}
	}
}

// diskHog writes block-sized records to a file in dir, each followed by
// fdatasync, until killed; the file is truncated when it passes 64 MiB.
func diskHog(dir string, block int) error {
	f, err := os.CreateTemp(dir, "raftcmp-disk-hog-")
	if err != nil {
		return err
	}
	os.Remove(f.Name()) // gone with the process, whatever ends it
	buf := make([]byte, block)
	for i := range buf {
		buf[i] = byte(i * 31)
	}
	var off int64
	for {
		if _, err := f.WriteAt(buf, off); err != nil {
			return err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return err
		}
		off += int64(block)
		if off > 64<<20 {
			off = 0
		}
	}
}

// StartHog starts spec's hog as a re-executed copy of this process's own
// binary, killed by the kernel if this process dies (PDEATHSIG), in a
// process group of its own; spec.Cgroup is not applied here (the
// Machine that starts it places it). Stop it with Kill and Wait.
func StartHog(spec HogSpec) (*exec.Cmd, error) {
	var env []string
	switch spec.Kind {
	case HogCPU:
		env = []string{HogEnv + "=cpu"}
	case HogDisk:
		env = []string{HogEnv + "=disk:" + spec.Dir, HogEnv + "_BLOCK=" + strconv.FormatInt(spec.Block, 10)}
	default:
		return nil, fmt.Errorf("hog kind %q: want %s or %s", spec.Kind, HogCPU, HogDisk)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable for the hog: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s hog: %w", spec.Kind, err)
	}
	return cmd, nil
}

// stopHog kills and reaps a hog.
func stopHog(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Kill()
	cmd.Wait()
}
