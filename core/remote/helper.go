package remote

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/procfs"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/ownership"
)

// HelperCommand is the hidden subcommand that makes raftcmp the host-side
// helper: `raftcmp host OP ARGS...`, one SSH exec per operation. The
// Launcher runs the copy of raftcmp it installed on the host; a test binary
// that launches remote nodes dispatches to RunHelper itself.
const HelperCommand = "host"

// The helper's operations.
const (
	opRunPlugin = "run-plugin" // start a plugin and keep it while the session lasts
	opUsage     = "usage"      // a process's cluster.Usage, as JSON
	opPin       = "pin"        // pin a process to a CPU
	opFreePorts = "free-ports" // TCP ports free on an address of the host
	opRemove    = "remove"     // remove a directory below a base directory
)

// pidPrefix starts the line run-plugin writes first on stdout: "PREFIX
// PID STARTTIME", before the plugin's own output (its go-plugin handshake).
const pidPrefix = "raftcmp-host-pid"

// Exit statuses of the helper.
const (
	helperFailed  = 1 // the operation failed
	helperUsage   = 2 // bad arguments
	helperRefused = 3 // the plugin binary does not have the expected SHA-256
)

// RunHelper runs one host-side operation, args being the operation and its
// arguments, with this process's standard streams, and returns the exit
// status. Errors are one line on stderr.
func RunHelper(args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(os.Stderr, "raftcmp %s: no operation: want one of %s\n", HelperCommand, strings.Join([]string{
			opRunPlugin, opUsage, opPin, opFreePorts, opRemove, opMachineInfo, opCgroup, opDeviceOf, opHog}, ", "))
		return helperUsage
	}
	op, args := args[0], args[1:]
	var err error
	switch op {
	case opRunPlugin:
		return runPlugin(args)
	case opUsage:
		err = usage(args)
	case opPin:
		err = pin(args)
	case opFreePorts:
		err = freePorts(args)
	case opRemove:
		err = remove(args)
	case opCleanup:
		err = cleanupHost(args)
	case opNetCheck, opNetApply, opNetRevert, opNetCounters, opNetCleanup:
		err = map[string]func([]string) error{opNetCheck: netCheck, opNetApply: netApply, opNetRevert: netRevert, opNetCounters: netCounters, opNetCleanup: netCleanup}[op](args)
	case opMachineInfo:
		err = machineInfo(args)
	case opCgroup:
		err = cgroupOp(args)
	case opDeviceOf:
		err = deviceOf(args)
	case opHog:
		return runHog(args)
	default:
		fmt.Fprintf(os.Stderr, "raftcmp %s: unknown operation %q\n", HelperCommand, op)
		return helperUsage
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "raftcmp %s %s: %s\n", HelperCommand, op, oneLine(err.Error()))
		return helperFailed
	}
	return 0
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runPlugin verifies and starts a plugin binary and keeps it running while
// the SSH session lasts:
//
//	run-plugin --sha256 HEX --socket-dir DIR --data-dir DIR [--env K=V]... [--silence D] PATH
//
// It hashes PATH and runs exactly the bytes it hashed (the open file, by
// /proc/self/fd), so the copy the host runs is the one verified. The plugin
// is its child, in a process group of its own, killed by the kernel if the
// helper dies (PDEATHSIG), with exactly the given environment, the data
// dir as working directory and PLUGIN_UNIX_SOCKET_DIR's socket in the
// socket dir, which the helper creates and removes. The helper writes
// "raftcmp-host-pid PID STARTTIME" on stdout, then passes the plugin's
// stdout through (go-plugin's handshake line); the plugin's stderr is the
// helper's.
//
// A node must not outlive its session, and across hosts there is no
// PDEATHSIG: the helper reads stdin (the session's), and when it ends
// (the session or the whole connection is gone, or raftcmp closed it to
// kill the node), or nothing arrived for --silence (raftcmp writes a byte
// every second), or the helper gets SIGHUP, SIGTERM, SIGINT or SIGPIPE, it
// kills the plugin's process group, reaps it and removes the socket dir.
// The plugin's own exit ends the helper too, with its status.
func runPlugin(args []string) int {
	fl := flag.NewFlagSet(opRunPlugin, flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	sum := fl.String("sha256", "", "the plugin's SHA-256, hex")
	sockDir := fl.String("socket-dir", "", "directory for the plugin's socket, created and removed")
	dataDir := fl.String("data-dir", "", "the node's data directory, created if missing")
	silence := fl.Duration("silence", 0, "kill the plugin after this long without input (0: never)")
	keepData := fl.Bool("keep-data", false, "never mark nor remove the data dir (run --keep-data)")
	var env stringList
	fl.Var(&env, "env", "K=V of the plugin's environment (repeatable)")
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "raftcmp %s %s: %s\n", HelperCommand, opRunPlugin, fmt.Sprintf(format, a...))
		return code
	}
	if err := fl.Parse(args); err != nil {
		return fail(helperUsage, "%v", err)
	}
	if fl.NArg() != 1 || *sum == "" || *sockDir == "" || *dataDir == "" {
		return fail(helperUsage, "want --sha256, --socket-dir, --data-dir and one plugin path")
	}
	bin := fl.Arg(0)

	f, err := os.Open(bin)
	if err != nil {
		return fail(helperFailed, "%v", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fail(helperFailed, "read %s: %v", bin, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != *sum {
		return fail(helperRefused, "%s has SHA-256 %s on this host, not the %s raftcmp verified: refused", bin, got, *sum)
	}
	if err := os.MkdirAll(filepath.Dir(*sockDir), 0o700); err != nil {
		return fail(helperFailed, "%v", err)
	}
	if err := os.Mkdir(*sockDir, 0o700); err != nil {
		return fail(helperFailed, "%v", err)
	}
	defer os.RemoveAll(*sockDir)
	mark := runMark{Helper: ownership.Self()}
	if err := writeJSON(filepath.Join(*sockDir, runMarkFile), mark); err != nil {
		return fail(helperFailed, "mark %s: %v", *sockDir, err)
	}
	if !*keepData {
		if err := markNode(*dataDir); err != nil {
			return fail(helperFailed, "mark %s: %v", *dataDir, err)
		}
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fail(helperFailed, "%v", err)
	}

	// Signals that end the session end the node; SIGPIPE is caught so
	// that writing to a vanished session fails instead of killing the
	// helper before it has cleaned up.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPIPE)
	defer signal.Stop(sigs)

	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(helperFailed, "%v", err)
	}
	defer outR.Close()
	// The opened, hashed file itself is executed: replacing the path after
	// the check changes nothing.
	cmd := exec.Command(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	cmd.Args = []string{bin}
	cmd.Env = env
	cmd.Dir = *dataDir
	cmd.Stdout, cmd.Stderr = outW, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		outW.Close()
		return fail(helperFailed, "start %s: %v", bin, err)
	}
	outW.Close()
	f.Close()
	pid := cmd.Process.Pid
	killGroup := func() { syscall.Kill(-pid, syscall.SIGKILL) }
	// Read before anything reaps the plugin: until then, even if it has
	// exited, its pid is its own.
	start, err := startTime(pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err != nil {
		killGroup()
		<-exited
		return fail(helperFailed, "read start time of pid %d: %v", pid, err)
	}
	mark.PluginPID, mark.PluginStart = pid, start
	if err := writeJSON(filepath.Join(*sockDir, runMarkFile), mark); err != nil {
		killGroup()
		<-exited
		return fail(helperFailed, "mark %s: %v", *sockDir, err)
	}
	fmt.Fprintf(os.Stdout, "%s %d %d\n", pidPrefix, pid, start)
	copied := make(chan struct{})
	go func() {
		io.Copy(os.Stdout, outR)
		close(copied)
	}()
	// Whatever the plugin wrote before it ended is passed on before the
	// helper exits (a grandchild holding the pipe open is not waited for).
	flush := func() {
		select {
		case <-copied:
		case <-time.After(2 * time.Second):
		}
	}

	lost := func() {
		if !*keepData {
			// The session was lost: no run will remove the node's data.
			dropNode(*dataDir)
		}
	}
	return holdWhileSession(pid, exited, *silence, sigs, flush, lost)
}

// holdWhileSession keeps the child pid (the leader of its own process
// group, whose Wait reports on exited) while the SSH session lasts: when
// stdin (the session's) ends, or nothing arrived on it for silence (if
// positive; raftcmp writes a byte every second), or a signal arrives on
// sigs, it kills the child's process group, reaps it, calls flush and
// returns helperFailed, having called lost first if raftcmp did not end
// the child on purpose (killByte); when the child exits by itself, it kills what the
// child left in its group, calls flush and returns the child's status.
func holdWhileSession(pid int, exited <-chan error, silence time.Duration, sigs <-chan os.Signal, flush, lost func()) int {
	killGroup := func() { syscall.Kill(-pid, syscall.SIGKILL) }
	var deliberate atomic.Bool // raftcmp ended the child (killByte), rather than losing it
	input := make(chan struct{}, 1)
	eof := make(chan struct{})
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := os.Stdin.Read(buf)
			if slices.Contains(buf[:n], killByte) {
				deliberate.Store(true)
			}
			if n > 0 {
				select {
				case input <- struct{}{}:
				default:
				}
			}
			if err != nil {
				close(eof)
				return
			}
		}
	}()
	var quiet <-chan time.Time
	var timer *time.Timer
	if silence > 0 {
		timer = time.NewTimer(silence)
		defer timer.Stop()
		quiet = timer.C
	}
	for {
		select {
		case err := <-exited:
			killGroup() // whatever the child left in its group
			flush()
			return exitStatus(err)
		case <-input:
			if timer != nil {
				timer.Reset(silence)
			}
			continue
		case <-eof:
		case <-sigs:
		case <-quiet:
		}
		killGroup()
		<-exited
		if !deliberate.Load() {
			lost()
		}
		flush()
		return helperFailed
	}
}

// exitStatus is the helper's status for the plugin's exit.
func exitStatus(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return ee.ExitCode()
	}
	return helperFailed
}

// startTime is a process's start time (field 22 of /proc/PID/stat), which
// together with the pid names one process even after the pid is reused.
func startTime(pid int) (uint64, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, err
	}
	return st.Starttime, nil
}

// runningProcess parses "PID STARTTIME" and checks it still names a running
// process: a pid alone could be another process's by now.
func runningProcess(args []string) (int, error) {
	if len(args) < 2 {
		return 0, errors.New("want PID STARTTIME")
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid %q: want a positive number", args[0])
	}
	want, err := strconv.ParseUint(args[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("start time %q: want a number", args[1])
	}
	got, err := startTime(pid)
	if err != nil || got != want {
		return 0, fmt.Errorf("process %d has ended", pid)
	}
	return pid, nil
}

// usage prints a process's cluster.Usage as JSON: usage PID STARTTIME.
func usage(args []string) error {
	pid, err := runningProcess(args)
	if err != nil {
		return err
	}
	u, err := cluster.ProcUsage(pid)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(u)
}

// pin restricts every thread of a process to one CPU: pin PID STARTTIME CPU.
func pin(args []string) error {
	pid, err := runningProcess(args)
	if err != nil {
		return err
	}
	if len(args) != 3 {
		return errors.New("want PID STARTTIME CPU")
	}
	cpu, err := strconv.Atoi(args[2])
	if err != nil || cpu < 0 {
		return fmt.Errorf("cpu %q: want a CPU number", args[2])
	}
	return cluster.PinProcess(pid, cpu)
}

// freePorts prints N TCP ports, one a line, that were free on ADDR a
// moment ago: free-ports ADDR N. They are bound together, then released,
// so they are distinct (cluster.FreeAddrs does the same on this machine).
func freePorts(args []string) error {
	if len(args) != 2 {
		return errors.New("want ADDR N")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 || n > 64 {
		return fmt.Errorf("count %q: want 1..64", args[1])
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(args[0], "0"))
		if err != nil {
			return fmt.Errorf("bind %s (the host's data_addr): %w", args[0], err)
		}
		ls = append(ls, l)
		fmt.Fprintln(os.Stdout, l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// remove removes PATH and everything below it, where PATH must be strictly
// below BASE: remove BASE PATH. Removing what is already gone is no error.
func remove(args []string) error {
	if len(args) != 2 {
		return errors.New("want BASE PATH")
	}
	base, p := filepath.Clean(args[0]), filepath.Clean(args[1])
	rel, err := filepath.Rel(base, p)
	if !filepath.IsAbs(base) || err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("%s is not below %s: refused", p, base)
	}
	return os.RemoveAll(p)
}
