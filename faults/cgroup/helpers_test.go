package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv switches the test binary into a child process role (see
// runChild) instead of running tests.
const childEnv = "RAFTCMP_CGROUP_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	os.Exit(m.Run())
}

// runChild is the body of a child process. Every role waits for a line on
// stdin (sent once the child has been put into its group) before working,
// and reports progress as lines on stdout.
func runChild(role string) int {
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return 3
	}
	switch role {
	case "busy":
		x := 0
		for {
			x++
		}
	case "threads":
		// Start new OS threads after joining the group: they must land in
		// it too.
		n, _ := strconv.Atoi(os.Getenv("RAFTCMP_CHILD_THREADS"))
		ready := make(chan struct{})
		for range n {
			go func() {
				runtime.LockOSThread()
				ready <- struct{}{}
				forever()
			}()
		}
		for range n {
			<-ready
		}
		fmt.Println("ready")
		forever()
	case "alloc":
		// Allocate and touch memory 1 MiB at a time.
		mb, _ := strconv.Atoi(os.Getenv("RAFTCMP_CHILD_MB"))
		var keep [][]byte
		for i := 1; i <= mb; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
			fmt.Printf("allocated %d\n", i)
		}
		fmt.Println("done")
		forever()
		runtime.KeepAlive(keep)
	case "write":
		// O_DIRECT writes of bs bytes, cycling over the first 32 MiB of the
		// file.
		bs, _ := strconv.Atoi(os.Getenv("RAFTCMP_CHILD_BS"))
		fd, err := unix.Open(os.Getenv("RAFTCMP_CHILD_FILE"), unix.O_WRONLY|unix.O_CREAT|unix.O_DIRECT, 0o600)
		if err != nil {
			fmt.Println("open:", err)
			return 4
		}
		buf, err := unix.Mmap(-1, 0, bs, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err != nil {
			fmt.Println("mmap:", err)
			return 4
		}
		for i := range buf {
			buf[i] = byte(i)
		}
		const span = 32 << 20
		for off := int64(0); ; off = (off + int64(bs)) % span {
			if _, err := unix.Pwrite(fd, buf, off); err != nil {
				fmt.Println("write:", err)
				return 4
			}
		}
	}
	return 2
}

// forever blocks (on a timer, so the runtime sees no deadlock).
func forever() {
	for {
		time.Sleep(time.Hour)
	}
}

// child is a running child process started by startChild.
type child struct {
	cmd   *exec.Cmd
	pid   int
	stdin io.WriteCloser
	lines chan string
	// exited is closed once the child has been reaped; state is then set.
	exited chan struct{}
	state  *os.ProcessState
}

// startChild starts the test binary as a child in the given role. It is
// killed and reaped when the test ends (registered now, so it runs after
// cleanups registered later, such as deleting the group holding it).
func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	cmd.Stdout = pw
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	c := &child{cmd: cmd, pid: cmd.Process.Pid, stdin: stdin, lines: make(chan string, 1024), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default: // nobody reads progress this far behind
			}
		}
		pr.Close()
	}()
	go func() {
		_ = cmd.Wait()
		c.state = cmd.ProcessState
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("child %d (%s) was not reaped within 10s of SIGKILL", c.pid, role)
		}
	})
	return c
}

// start lets the child begin its work.
func (c *child) start(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatalf("start child %d: %v", c.pid, err)
	}
}

// waitLine waits for a stdout line satisfying ok.
func (c *child) waitLine(t *testing.T, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-c.lines:
			if ok(l) {
				return l
			}
		case <-c.exited:
			t.Fatalf("child %d exited (%v) before the expected output", c.pid, c.state)
		case <-deadline:
			t.Fatalf("child %d: no expected output within %v", c.pid, timeout)
		}
	}
}

// waitExit waits for the child to exit, reporting whether it did.
func (c *child) waitExit(timeout time.Duration) bool {
	select {
	case <-c.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// testPrefix starts the names of the groups this test process creates, so
// that checks and cleanups never touch groups of other runs.
var testPrefix = fmt.Sprintf("%stest%d-", Prefix, os.Getpid())

// realManager returns a Manager for the machine's cgroups, skipping the test
// when it cannot run here. It also registers (to run last) a check that no
// cgroup of this test process is left anywhere under DefaultRoot.
func realManager(t *testing.T) *Manager {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: creating real cgroups needs root (run the tests as root)")
	}
	m, err := NewManager(DefaultRoot)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	if err := m.available(); err != nil {
		if m.Mode() == ModeV2 {
			t.Skipf("skipping: cgroup v2 here cannot delegate to child groups: %v", err)
		}
		t.Fatalf("available: %v", err)
	}
	t.Cleanup(func() { checkNoLeftovers(t) })
	return m
}

// checkNoLeftovers fails the test if any cgroup directory named with
// testPrefix exists under DefaultRoot, at any depth.
func checkNoLeftovers(t *testing.T) {
	t.Helper()
	var left []string
	_ = filepath.WalkDir(DefaultRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), testPrefix) {
			left = append(left, p)
			return fs.SkipDir
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("cgroups left behind: %v", left)
	}
}

// newGroup creates group testPrefix+suffix and deletes it when the test ends
// (failing the test if that fails).
func newGroup(t *testing.T, m *Manager, suffix string) *Group {
	t.Helper()
	g, err := m.Create(testPrefix + suffix)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		if err := g.Delete(); err != nil {
			t.Errorf("Delete: %v", err)
		}
	})
	return g
}

// childInGroup starts a child in role, creates a group, moves the child into
// it and lets it start. The group is deleted before the child is killed.
func childInGroup(t *testing.T, m *Manager, suffix, role string, env ...string) (*child, *Group) {
	t.Helper()
	c := startChild(t, role, env...)
	g := newGroup(t, m, suffix)
	if err := g.AddProcess(c.pid); err != nil {
		t.Fatalf("AddProcess: %v", err)
	}
	c.start(t)
	return c, g
}

func mustStats(t *testing.T, g *Group) Stats {
	t.Helper()
	s, err := g.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return s
}

// procCgroups parses /proc/<pid>/task/<tid>/cgroup (or /proc/<pid>/cgroup
// for tid 0) into controller -> path.
func procCgroups(t *testing.T, pid, tid int) map[string]string {
	t.Helper()
	file := fmt.Sprintf("/proc/%d/cgroup", pid)
	if tid != 0 {
		file = fmt.Sprintf("/proc/%d/task/%d/cgroup", pid, tid)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// procCPUTime is the user+system CPU time of pid from /proc/<pid>/stat.
func procCPUTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // CLK_TCK 100
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	s, err := readFileString(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
