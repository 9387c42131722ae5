package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/PID/stat's CPU times (100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuUse is the CPU time a phase took in each process group: where the
// machine's cores went (scimload runs on the same machine as the server).
type cpuUse struct {
	Server   time.Duration `json:"server_ns"`
	Postgres time.Duration `json:"postgres_ns"` // the postmaster and its children
	Load     time.Duration `json:"scimload_ns"`
}

// cpuMeter reads the CPU times of the server, its PostgreSQL and scimload.
type cpuMeter struct {
	serverPID     int
	postmasterPID int
}

func (m *cpuMeter) read() cpuUse {
	u := cpuUse{Server: procCPU(m.serverPID), Load: procCPU(os.Getpid())}
	if m.postmasterPID > 0 {
		u.Postgres = procCPU(m.postmasterPID)
		for _, pid := range procPIDs() {
			if procParent(pid) == m.postmasterPID {
				u.Postgres += procCPU(pid)
			}
		}
	}
	return u
}

func (u cpuUse) minus(v cpuUse) cpuUse {
	return cpuUse{Server: u.Server - v.Server, Postgres: u.Postgres - v.Postgres, Load: u.Load - v.Load}
}

// String says how the cores were used over wall.
func (u cpuUse) String(wall time.Duration) string {
	avail := time.Duration(runtime.NumCPU()) * wall
	pct := func(d time.Duration) string {
		return fmt.Sprintf("%.1fs (%.0f%%)", d.Seconds(), 100*float64(d)/float64(max(avail, 1)))
	}
	return fmt.Sprintf("CPU time: server %s, its PostgreSQL %s, scimload %s, of %d CPUs × %.1fs",
		pct(u.Server), pct(u.Postgres), pct(u.Load), runtime.NumCPU(), wall.Seconds())
}

// procStatFields returns the fields of /proc/PID/stat after the command
// name (which may hold spaces): field 3 (state) is at index 0.
func procStatFields(pid int) []string {
	if pid <= 0 {
		return nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// procCPU is a process's user and system time; 0 if it is gone.
func procCPU(pid int) time.Duration {
	f := procStatFields(pid)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	return time.Duration(ut+st) * clockTick
}

func procParent(pid int) int {
	f := procStatFields(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1]) // field 4
	return ppid
}

// postmasterPID reads the first line of the cluster's postmaster.pid.
func postmasterPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}
