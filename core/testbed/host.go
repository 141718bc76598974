package testbed

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// HostEnv, set in a process's environment, turns a re-executed raftcmp (or
// test binary) into a test host's init: PID 1 of the host's own PID, mount,
// UTS, IPC and network namespaces. Its value is the host's directory in the
// testbed directory (DIR/hosts/NAME); the host's name is its last element.
const HostEnv = "RAFTCMP_TESTBED_HOST"

// Inside a host: where sshd's files live (a tmpfs of the host's own, so
// StrictModes holds and nothing of them is visible outside the host), and
// the directory the hosts file offers raftcmp.
const (
	hostSSHDir  = "/run/ssh"
	hostDataDir = "/srv/raftcmp"
	sshdPath    = "/usr/sbin/sshd"
)

// Files of a host's directory (DIR/hosts/NAME) that `up` writes and the
// init copies into the host.
const (
	hostKeyFile        = "ssh_host_ed25519_key"
	authorizedKeysFile = "authorized_keys"
	sshdConfigFile     = "sshd_config"
	hostLogFile        = "host.log"
)

// The init's handshake with `up`, over two pipes: the init writes
// msgReady once its mounts and hostname are set (or "error: ..." and
// exits), waits for one byte meaning "your network is configured" (EOF:
// `up` died, so it exits), starts sshd and writes msgSSHD.
const (
	goFD     = 3 // up -> init
	statusFD = 4 // init -> up
	msgReady = "ready"
	msgSSHD  = "sshd"
)

// MaybeRunHost must be called first in main (and in TestMain of tests that
// start a testbed): in a test host's init (HostEnv set) it runs the host
// until SIGTERM and never returns; in any other process it returns at once.
func MaybeRunHost() {
	dir := os.Getenv(HostEnv)
	if dir == "" {
		return
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)).With("host", filepath.Base(dir)))
	if os.Getpid() != 1 {
		fmt.Fprintf(os.Stderr, "raftcmp: %s is set but this is not PID 1 of a new PID namespace; only `raftcmp testbed up` sets it\n", HostEnv)
		os.Exit(2)
	}
	os.Exit(runHost(dir))
}

// runHost is the init of a test host; it returns the exit status.
func runHost(dir string) int {
	status := os.NewFile(statusFD, "status")
	goPipe := os.NewFile(goFD, "go")
	files, err := readHostFiles(dir)
	if err == nil {
		err = setUpHost(filepath.Base(dir), files)
	}
	if err != nil {
		slog.Error("set up host", "err", err)
		fmt.Fprintf(status, "error: %v\n", err)
		return 1
	}
	fmt.Fprintln(status, msgReady)
	// Wait for `up` to configure the network; EOF means it is gone.
	if _, err := goPipe.Read(make([]byte, 1)); err != nil {
		slog.Error("testbed up went away before configuring the network", "err", err)
		return 1
	}
	goPipe.Close()

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD)
	// sshd -D stays in the foreground as the init's child; -e logs to
	// stderr, which is the host's log file. Its environment is minimal: no
	// HostEnv, so only the init carries the testbed's mark.
	sshd, err := os.StartProcess(sshdPath, []string{sshdPath, "-D", "-e", "-f", filepath.Join(hostSSHDir, sshdConfigFile)}, &os.ProcAttr{
		Dir:   "/",
		Env:   []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"},
		Files: []*os.File{os.Stdin, os.Stderr, os.Stderr}, // stdin is /dev/null
	})
	if err != nil {
		slog.Error("start sshd", "err", err)
		fmt.Fprintf(status, "error: start sshd: %v\n", err)
		return 1
	}
	fmt.Fprintln(status, msgSSHD)
	status.Close()
	slog.Info("sshd started", "pid", sshd.Pid)

	// PID 1 reaps every orphan of the host. When it returns, the kernel
	// kills whatever else runs in the host's PID namespace: that is the
	// teardown.
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			slog.Info("stopping", "signal", sig)
			return 0
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid == sshd.Pid {
				slog.Error("sshd exited", "status", ws.ExitStatus(), "signal", ws.Signal())
				return 1
			}
		}
	}
	return 0
}

// hostFiles are the contents of the files `up` wrote for the host.
type hostFiles struct {
	hostKey, authorizedKeys, sshdConfig []byte
}

// readHostFiles reads the host's files before its own /tmp hides them (the
// testbed directory may be under /tmp).
func readHostFiles(dir string) (hostFiles, error) {
	var f hostFiles
	for _, x := range []struct {
		name string
		dst  *[]byte
	}{
		{hostKeyFile, &f.hostKey},
		{authorizedKeysFile, &f.authorizedKeys},
		{sshdConfigFile, &f.sshdConfig},
	} {
		b, err := os.ReadFile(filepath.Join(dir, x.name))
		if err != nil {
			return f, fmt.Errorf("read host file: %w", err)
		}
		*x.dst = b
	}
	return f, nil
}

// setUpHost gives the host its own file systems and name and puts sshd's
// files in place. It runs as PID 1 in fresh namespaces.
func setUpHost(name string, files hostFiles) error {
	// Nothing mounted here may propagate back to the machine.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// The copied mount table holds every network namespace bound under
	// /run/netns (other testbeds', other tools'); detach them so this host
	// does not keep them alive.
	if err := detachUnder("/run/netns"); err != nil {
		return err
	}
	mounts := []struct {
		target, fstype, data string
		flags                uintptr
	}{
		{"/proc", "proc", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"/run", "tmpfs", "mode=0755", unix.MS_NOSUID | unix.MS_NODEV},
		{"/tmp", "tmpfs", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV},
		{"/dev/shm", "tmpfs", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV},
		{"/srv", "tmpfs", "mode=0755", unix.MS_NOSUID | unix.MS_NODEV},
	}
	for _, m := range mounts {
		if err := unix.Mount(m.fstype, m.target, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	// Only the testbed's IPv4 addresses: no IPv6 link-local chatter on the
	// bridge. Absent when the kernel has no IPv6.
	for _, c := range []string{"all", "default"} {
		err := os.WriteFile("/proc/sys/net/ipv6/conf/"+c+"/disable_ipv6", []byte("1"), 0o644)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disable IPv6: %w", err)
		}
	}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{"/run/sshd", 0o755}, {hostSSHDir, 0o700}, {hostDataDir, 0o755}} {
		if err := os.Mkdir(d.path, d.mode); err != nil {
			return fmt.Errorf("create %s: %w", d.path, err)
		}
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{hostKeyFile, files.hostKey}, {authorizedKeysFile, files.authorizedKeys}, {sshdConfigFile, files.sshdConfig}} {
		if err := os.WriteFile(filepath.Join(hostSSHDir, f.name), f.b, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return nil
}

// detachUnder lazily unmounts every mount at or below dir, deepest first.
// It reads /proc/self/mountinfo itself: one field of one file does not
// warrant a dependency.
func detachUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT ...; spaces are octal-escaped.
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read mount table: %w", err)
	}
	slices.SortFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, mp := range points {
		// EINVAL: already gone with a parent detached before it.
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detach %s: %w", mp, err)
		}
	}
	return nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readStatus reads the init's handshake lines until want or an error line.
func readStatus(r *bufio.Reader, want string) error {
	line, err := r.ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case line == want:
		return nil
	case strings.HasPrefix(line, "error: "):
		return errors.New(strings.TrimPrefix(line, "error: "))
	case err == io.EOF:
		return errors.New("host init exited")
	case err != nil:
		return err
	}
	return fmt.Errorf("host init said %q, want %q", line, want)
}
