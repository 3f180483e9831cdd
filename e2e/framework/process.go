package framework

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a child process running in its own process group, so that
// stopping it also stops anything it spawned.
type Process struct {
	Name    string
	LogFile string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done is closed
}

// running holds every started process that has not been stopped, for
// StopAll.
var running = struct {
	sync.Mutex
	set map[*Process]struct{}
}{set: map[*Process]struct{}{}}

// StartProcess runs bin with args, writing its output to logDir/name.log.
// The child is killed by the kernel if this process dies without stopping it
// (Pdeathsig), which covers `go test -timeout` and SIGKILL; Stop and StopAll
// cover every orderly exit.
func StartProcess(name, logDir, bin string, args ...string) (*Process, error) {
	return startProcess(name, logDir, bin, nil, args)
}

// startProcess is StartProcess with env added to this process's
// environment, for programs configured through environment variables (as
// KEDA's are, by its Deployments' env).
func startProcess(name, logDir, bin string, env, args []string) (*Process, error) {
	logFile := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, LogFile: logFile, cmd: cmd, done: make(chan struct{})}
	running.Lock()
	running.set[p] = struct{}{}
	running.Unlock()
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// ExitError describes how an exited process ended, with the end of its log.
func (p *Process) ExitError() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", p.Name, p.err, p.LogFile, tail(p.LogFile, 30))
}

// Stop asks the process group to terminate and kills it if it has not exited
// after a grace period. It returns once the process is gone.
func (p *Process) Stop() {
	running.Lock()
	delete(running.set, p)
	running.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children that ignored SIGTERM outlive their leader: make sure.
	_ = syscall.Kill(pgid, syscall.SIGKILL)
}

// StopAll stops every process started by StartProcess and not yet stopped.
func StopAll() {
	running.Lock()
	ps := make([]*Process, 0, len(running.set))
	for p := range running.set {
		ps = append(ps, p)
	}
	running.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(p.Stop)
	}
	wg.Wait()
}

// StopOnSignal stops all processes and exits when SIGINT or SIGTERM arrives,
// then calls cleanup (which may be nil), so an interrupted run leaves nothing
// behind. Call it once, early in TestMain or main.
func StopOnSignal(cleanup func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "e2e: %v: stopping all processes\n", sig)
		StopAll()
		if cleanup != nil {
			cleanup()
		}
		os.Exit(1)
	}()
}

// scanLog returns what report makes of each line of the process's log, for
// the lines it reports ("" passes a line over).
func (p *Process) scanLog(report func(line string) string) ([]string, error) {
	f, err := os.Open(p.LogFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if r := report(sc.Text()); r != "" {
			lines = append(lines, r)
		}
	}
	return lines, sc.Err()
}

// tail returns up to n last lines of a file, for error messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const max = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err != nil {
			return err.Error()
		}
	}
	b, err := io.ReadAll(f)
	if err != nil && !errors.Is(err, io.EOF) {
		return err.Error()
	}
	lines := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' && i != len(b)-1 {
			lines++
			if lines == n {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}

// Memory is a process's resident memory as the kernel accounts it
// (/proc/PID/status), in bytes.
type Memory struct {
	// RSS is resident now (VmRSS); Peak the most it has been (VmHWM).
	RSS, Peak uint64
	// Anon is RSS's anonymous part (RssAnon: heap, stacks, the runtime's
	// own), File its pages of mapped files (RssFile: the binary's text and
	// read-only data).
	Anon, File uint64
	// MajorFaults counts the pages it has read from disk when it touched
	// them (majflt of /proc/PID/stat): what giving back the binary's
	// pages costs.
	MajorFaults uint64
}

// Memory reads the running process's resident memory.
func (p *Process) Memory() (Memory, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return Memory{}, fmt.Errorf("%s: %w", p.Name, err)
	}
	var m Memory
	fields := map[string]*uint64{"VmRSS:": &m.RSS, "VmHWM:": &m.Peak, "RssAnon:": &m.Anon, "RssFile:": &m.File}
	found := 0
	for line := range strings.Lines(string(raw)) {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" || fields[f[0]] == nil {
			continue
		}
		kb, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("%s: /proc status line %q: %w", p.Name, strings.TrimSpace(line), err)
		}
		*fields[f[0]] = kb << 10
		found++
	}
	if found != len(fields) {
		return Memory{}, fmt.Errorf("%s: /proc status lacks one of VmRSS, VmHWM, RssAnon, RssFile", p.Name)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return Memory{}, fmt.Errorf("%s: %w", p.Name, err)
	}
	// pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt ...
	_, rest, _ := bytes.Cut(stat, []byte(") "))
	f := strings.Fields(string(rest))
	if len(f) < 10 {
		return Memory{}, fmt.Errorf("%s: malformed /proc stat %q", p.Name, stat)
	}
	if m.MajorFaults, err = strconv.ParseUint(f[9], 10, 64); err != nil {
		return Memory{}, fmt.Errorf("%s: /proc stat majflt %q: %w", p.Name, f[9], err)
	}
	return m, nil
}
