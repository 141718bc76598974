package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// startTime is field 22 of /proc/PID/stat: with the pid, it names one
// process for as long as the machine runs.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(b[i+1:])) // from field 3
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// isInit says whether pid is still the host's init: the same start time and
// the host's HostEnv in its environment (empty once it has exited).
func (h hostState) isInit() bool {
	if h.PID <= 0 {
		return false
	}
	if t, err := startTime(h.PID); err != nil || t != h.StartTime {
		return false
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", h.PID))
	if err != nil {
		return false
	}
	return slices.ContainsFunc(bytes.Split(env, []byte{0}), func(e []byte) bool { return string(e) == HostEnv+"="+h.Dir })
}

// Down stops the hosts of the testbed in dir and removes everything its
// state file lists: inits (and with them sshd and all they ran), network
// namespace names, veths, the bridge, the files Up wrote, and dir if Up
// made it. It returns the testbed removed, or nil if dir holds none
// (nothing to do is no error: Down is idempotent). It works after a
// half-failed Up and after the inits were killed.
func Down(ctx context.Context, dir string) (*Testbed, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("testbed directory: %w", err)
	}
	st, err := loadState(abs)
	if err != nil || st == nil {
		return nil, err
	}
	var errs []error
	errs = append(errs, stopInits(ctx, st.Hosts)...)
	for _, h := range st.Hosts {
		if err := unbindNetns(h.Netns); err != nil {
			errs = append(errs, err)
		}
		if h.Veth != "" {
			if err := deleteLink(h.Veth, "veth"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if st.Bridge != "" {
		if err := deleteLink(st.Bridge, "bridge"); err != nil {
			errs = append(errs, err)
		}
	}
	for _, h := range st.Hosts {
		if err := os.RemoveAll(h.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove host directory: %w", err))
		}
	}
	if err := os.Remove(filepath.Join(abs, hostsSubdir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove hosts directory: %w", err))
	}
	for _, f := range files {
		if err := os.Remove(filepath.Join(abs, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", f, err))
		}
	}
	if len(errs) > 0 { // keep the state: a second Down retries
		return nil, fmt.Errorf("testbed %s: %w", st.ID, errors.Join(errs...))
	}
	if err := os.Remove(filepath.Join(abs, StateFile)); err != nil {
		return nil, fmt.Errorf("remove state file: %w", err)
	}
	if st.MadeDir {
		if err := os.Remove(abs); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove testbed directory (files not made by the testbed are left): %w", err)
		}
	}
	return st.testbed(), nil
}

// stopInits ends the hosts' inits that are still the testbed's: SIGTERM,
// then SIGKILL after stopTimeout. A pidfd holds each one from the check to
// the signal, so a reused pid is never signalled.
func stopInits(ctx context.Context, hs []hostState) []error {
	var errs []error
	type target struct {
		h  hostState
		fd int
	}
	var targets []target
	for _, h := range hs {
		if h.PID <= 0 {
			continue
		}
		fd, err := unix.PidfdOpen(h.PID, 0)
		if err != nil {
			if !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("host %s: open init pid %d: %w", h.Name, h.PID, err))
			}
			continue
		}
		if !h.isInit() {
			unix.Close(fd)
			continue
		}
		targets = append(targets, target{h, fd})
	}
	defer func() {
		for _, t := range targets {
			unix.Close(t.fd)
		}
	}()
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGKILL} {
		var live []target
		for _, t := range targets {
			if err := unix.PidfdSendSignal(t.fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("host %s: signal init pid %d: %w", t.h.Name, t.h.PID, err))
			}
		}
		deadline := time.Now().Add(stopTimeout)
		for _, t := range targets {
			if !waitExit(ctx, t.fd, deadline) {
				live = append(live, t)
			}
		}
		if len(live) == 0 {
			return errs
		}
		targets = live
	}
	for _, t := range targets {
		errs = append(errs, fmt.Errorf("host %s: init pid %d still running after SIGKILL", t.h.Name, t.h.PID))
	}
	return errs
}

// waitExit waits until the process of pidfd has exited (a pidfd polls
// readable then) or the deadline passes.
func waitExit(ctx context.Context, fd int, deadline time.Time) bool {
	for {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return false
		}
		ms := int(min(left, 100*time.Millisecond) / time.Millisecond)
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, max(ms, 1))
		if n > 0 {
			return true
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return false
		}
	}
}
