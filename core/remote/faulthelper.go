package remote

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/faults/cgroup"
)

// The helper's operations for faults on the host: the same faults/cgroup
// code a local run uses, run there, one SSH exec each (a hog is one
// session for its life).
const (
	opMachineInfo = "machine-info" // cgroups usable, missing controllers, CPUs: JSON faults.MachineInfo
	opCgroup      = "cgroup"       // one operation on one raftcmp cgroup
	opDeviceOf    = "device-of"    // the block device of a path: "MAJOR MINOR"
	opHog         = "hog"          // a competing load, kept while the session lasts
)

// hostCgroups is the helper's cgroup manager: the host's cgroup file
// system, groups not recorded as the helper's own (the run on raftcmp's
// machine owns and deletes them; the helper is gone after one operation).
func hostCgroups() (*cgroup.Manager, error) {
	return cgroup.NewManager(cgroup.DefaultRoot, cgroup.Unrecorded())
}

// machineInfo prints the host's faults.MachineInfo as JSON: machine-info
// [CONTROLLER...], the controllers being cgroup.Controller* names (any
// other name is looked up as it is).
func machineInfo(args []string) error {
	info := faults.MachineInfo{CPUs: runtime.NumCPU(), BootID: BootID()}
	m, err := hostCgroups()
	if err == nil {
		err = m.Available()
	}
	if err != nil {
		info.Unusable = oneLine(err.Error())
	} else if info.Missing, err = m.Missing(args...); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(info)
}

// cgroupOp runs one operation on a group: cgroup OP NAME [ARGS...]:
//
//	create NAME | add NAME PID | cpu-quota NAME QUOTA PERIOD | clear-cpu-quota NAME
//	cpu-shares NAME N | cpus NAME LIST | memory NAME BYTES OOM_KILL_DISABLE | clear-memory NAME
//	io NAME MAJOR MINOR RBPS WBPS RIOPS WIOPS | clear-io NAME MAJOR MINOR
//	freeze NAME | thaw NAME | stats NAME (JSON cgroup.Stats) | delete NAME
//
// PID is a pid of the host (read in the helper's PID namespace, which is
// the host's). delete of a group that is gone is no error.
func cgroupOp(args []string) error {
	if len(args) < 2 {
		return errors.New("want OP NAME [ARGS...]")
	}
	op, name, rest := args[0], args[1], args[2:]
	m, err := hostCgroups()
	if err != nil {
		return err
	}
	want := func(n int) error {
		if len(rest) != n {
			return fmt.Errorf("%s: want %d arguments after the name, got %d", op, n, len(rest))
		}
		return nil
	}
	nums := func(n int) ([]uint64, error) {
		if err := want(n); err != nil {
			return nil, err
		}
		out := make([]uint64, n)
		for i, a := range rest {
			if out[i], err = strconv.ParseUint(a, 10, 64); err != nil {
				return nil, fmt.Errorf("%s: argument %q: want a number", op, a)
			}
		}
		return out, nil
	}
	switch op {
	case "create": // create NAME RECORD_DIR
		if err := want(1); err != nil {
			return err
		}
		if err := recordCgroup(rest[0], name); err != nil {
			return err
		}
		if _, err := m.Create(name); err != nil {
			os.Remove(path.Join(rest[0], name))
			return err
		}
		return nil
	case "delete": // delete NAME RECORD_DIR
		if err := want(1); err != nil {
			return err
		}
		if err := m.Remove(name); err != nil {
			return err
		}
		if err := os.Remove(path.Join(rest[0], name)); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	g, err := m.Load(name)
	if err != nil {
		return err
	}
	switch op {
	case "add":
		n, err := nums(1)
		if err != nil {
			return err
		}
		return g.AddProcess(int(n[0]))
	case "cpu-quota":
		if err := want(2); err != nil {
			return err
		}
		q, err1 := time.ParseDuration(rest[0])
		p, err2 := time.ParseDuration(rest[1])
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return g.SetCPUQuota(q, p)
	case "clear-cpu-quota":
		return errors.Join(want(0), g.ClearCPUQuota())
	case "cpu-shares":
		n, err := nums(1)
		if err != nil {
			return err
		}
		return g.SetCPUShares(n[0])
	case "cpus":
		if err := want(1); err != nil {
			return err
		}
		return g.SetCPUs(rest[0])
	case "memory":
		if err := want(2); err != nil {
			return err
		}
		limit, err1 := strconv.ParseInt(rest[0], 10, 64)
		noKill, err2 := strconv.ParseBool(rest[1])
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return g.SetMemoryLimit(limit, noKill)
	case "clear-memory":
		return errors.Join(want(0), g.ClearMemoryLimit())
	case "io":
		n, err := nums(6)
		if err != nil {
			return err
		}
		return g.SetIOLimit(n[0], n[1], n[2], n[3], n[4], n[5])
	case "clear-io":
		n, err := nums(2)
		if err != nil {
			return err
		}
		return g.ClearIOLimit(n[0], n[1])
	case "freeze":
		return errors.Join(want(0), g.Freeze())
	case "thaw":
		return errors.Join(want(0), g.Thaw())
	case "stats":
		st, err := g.Stats()
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(st)
	}
	return fmt.Errorf("unknown cgroup operation %q", op)
}

// deviceOf prints the block device holding PATH: device-of PATH.
func deviceOf(args []string) error {
	if len(args) != 1 {
		return errors.New("want PATH")
	}
	major, minor, err := cgroup.DeviceOf(args[0])
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(os.Stdout, major, minor)
	return err
}

// runHog starts a competing load and keeps it while the session lasts,
// as run-plugin keeps a node:
//
//	hog --silence D [--cgroup NAME] [--dir DIR --block N] cpu|disk
//
// The hog is the helper re-executed (faults.StartHog), placed in the
// raftcmp group NAME if given (with its pid on the host), and reported
// as "raftcmp-host-pid PID STARTTIME" on stdout; it is killed when the
// session's stdin ends or stays silent for D, or the helper is signalled
// or dies (PDEATHSIG). So a raftcmp that dies, however, leaves no hog.
func runHog(args []string) int {
	fl := flag.NewFlagSet(opHog, flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	silence := fl.Duration("silence", 0, "kill the hog after this long without input (0: never)")
	group := fl.String("cgroup", "", "the raftcmp cgroup to run the hog in")
	dir := fl.String("dir", "", "disk: the directory of the hog's file")
	block := fl.Int64("block", 4096, "disk: bytes per record")
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "raftcmp %s %s: %s\n", HelperCommand, opHog, fmt.Sprintf(format, a...))
		return code
	}
	if err := fl.Parse(args); err != nil {
		return fail(helperUsage, "%v", err)
	}
	if fl.NArg() != 1 {
		return fail(helperUsage, "want one hog kind, %s or %s", faults.HogCPU, faults.HogDisk)
	}
	var g *cgroup.Group
	if *group != "" {
		m, err := hostCgroups()
		if err == nil {
			g, err = m.Load(*group)
		}
		if err != nil {
			return fail(helperFailed, "%v", err)
		}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPIPE)
	defer signal.Stop(sigs)
	cmd, err := faults.StartHog(faults.HogSpec{Kind: fl.Arg(0), Dir: *dir, Block: *block})
	if err != nil {
		return fail(helperFailed, "%v", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	start, err := startTime(pid)
	go func() { exited <- cmd.Wait() }()
	if err == nil && g != nil {
		err = g.AddProcess(pid)
	}
	if err != nil {
		syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
		return fail(helperFailed, "%v", err)
	}
	fmt.Fprintf(os.Stdout, "%s %d %d\n", pidPrefix, pid, start)
	return holdWhileSession(pid, exited, *silence, sigs, func() {}, func() {})
}

// BootID is this kernel's boot id, or "" if it cannot be read: two hosts
// with the same one are one machine.
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// recordCgroup marks group name as raftcmp's in dir (the host's
// cgroupsSubdir) before it is made.
func recordCgroup(dir, name string) error {
	if !path.IsAbs(dir) || strings.Contains(name, "/") {
		return fmt.Errorf("record cgroup %q in %q: want an absolute directory and a plain name", name, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path.Join(dir, name), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}
