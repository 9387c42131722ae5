package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rssInterval is how often the sampler reads /proc/PID/status.
const rssInterval = 100 * time.Millisecond

// rssReport is the server's memory over the run, in KiB as /proc reports it.
type rssReport struct {
	PID         int    `json:"pid"`
	How         string `json:"how"` // how the pid was chosen
	StartRSSKiB int64  `json:"start_rss_kib"`
	StartHWMKiB int64  `json:"start_vm_hwm_kib"`
	MaxRSSKiB   int64  `json:"max_sampled_rss_kib"` // max VmRSS over the samples
	HWMKiB      int64  `json:"vm_hwm_kib"`          // VmHWM (peak RSS since start) at the last sample
	Samples     int    `json:"samples"`
	Exited      bool   `json:"exited,omitempty"` // the process vanished during the run
	Error       string `json:"error,omitempty"`
}

// rssSampler reads the server's VmRSS and VmHWM every rssInterval.
type rssSampler struct {
	stop func()
	done chan struct{}
	mu   sync.Mutex
	rep  rssReport
}

func startRSSSampler(ctx context.Context, pid int, how string) *rssSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &rssSampler{stop: cancel, done: make(chan struct{}), rep: rssReport{PID: pid, How: how}}
	path := fmt.Sprintf("/proc/%d/status", pid)
	s.sample(path)
	s.mu.Lock()
	s.rep.StartRSSKiB, s.rep.StartHWMKiB = s.rep.MaxRSSKiB, s.rep.HWMKiB
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		t := time.NewTicker(rssInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.sample(path) // a last sample at the end of the run
				return
			case <-t.C:
				if !s.sample(path) {
					return
				}
			}
		}
	}()
	return s
}

// sample reads one sample; false when the process can no longer be read.
func (s *rssSampler) sample(path string) bool {
	rss, hwm, err := readProcStatus(path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if os.IsNotExist(err) && s.rep.Samples > 0 {
			s.rep.Exited = true
		} else if s.rep.Error == "" {
			s.rep.Error = err.Error()
		}
		return false
	}
	s.rep.Samples++
	s.rep.MaxRSSKiB = max(s.rep.MaxRSSKiB, rss)
	s.rep.HWMKiB = max(s.rep.HWMKiB, hwm)
	return true
}

// finish stops the sampler and returns its report.
func (s *rssSampler) finish() *rssReport {
	s.stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := s.rep
	return &rep
}

func readProcStatus(path string) (rssKiB, hwmKiB int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return parseProcStatus(f)
}

// parseProcStatus extracts VmRSS and VmHWM (in kB) from /proc/PID/status.
func parseProcStatus(r io.Reader) (rssKiB, hwmKiB int64, err error) {
	sc := bufio.NewScanner(r)
	found := 0
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse %s %q: %w", key, val, err)
		}
		found++
		if key == "VmRSS" {
			rssKiB = n
		} else {
			hwmKiB = n
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found < 2 {
		return 0, 0, fmt.Errorf("no VmRSS/VmHWM (kernel thread or zombie?)")
	}
	return rssKiB, hwmKiB, nil
}

// findServerPID picks the server process: the one listening on port, else
// the only process whose command line has "scimbridge" and "serve".
func findServerPID(port int) (pid int, how string, err error) {
	if port > 0 {
		if pid := listenerPID(port); pid > 0 {
			return pid, fmt.Sprintf("listening on port %d", port), nil
		}
	}
	var found []int
	for _, p := range procPIDs() {
		args := procCmdline(p)
		if p != os.Getpid() && hasScimbridgeServe(args) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return 0, "", fmt.Errorf("no process listens on port %d and none runs \"scimbridge serve\"", port)
	case 1:
		return found[0], `command line has "scimbridge" and "serve"`, nil
	default:
		return 0, "", fmt.Errorf("several \"scimbridge serve\" processes %v; pass --pid", found)
	}
}

func hasScimbridgeServe(args []string) bool {
	if len(args) < 2 || !strings.Contains(filepath.Base(args[0]), "scimbridge") {
		return false
	}
	return slices.Contains(args[1:], "serve")
}

func procPIDs() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

func procCmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
}

// listenerPID returns the process owning a listening TCP socket on port, or 0.
func listenerPID(port int) int {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if b, err := os.ReadFile(f); err == nil {
			for _, ino := range listeningInodes(b, port) {
				inodes[ino] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	for _, pid := range procPIDs() {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(dir, fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") && inodes[strings.TrimSuffix(link[len("socket:["):], "]")] {
				return pid
			}
		}
	}
	return 0
}

// listeningInodes parses /proc/net/tcp{,6} and returns the socket inodes in
// state LISTEN (0A) on port.
func listeningInodes(table []byte, port int) []string {
	var out []string
	lines := strings.Split(string(table), "\n")
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if p, err := strconv.ParseInt(hexPort, 16, 32); ok && err == nil && int(p) == port {
			out = append(out, f[9])
		}
	}
	return out
}

// machine describes where the load ran.
type machine struct {
	NumCPU   int    `json:"num_cpu"`
	CPUModel string `json:"cpu_model"`
	MemTotal string `json:"mem_total"`
	OS       string `json:"os"`
	Hostname string `json:"hostname"`
}

func describeMachine() machine {
	m := machine{NumCPU: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	m.Hostname, _ = os.Hostname()
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kib, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64); err == nil {
		m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20))
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
