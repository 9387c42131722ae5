package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestProcCPUAndParent(t *testing.T) {
	// Spin until the kernel's own count (getrusage) says 100 ms of CPU
	// went by, however long that takes on a loaded machine, and compare:
	// a wall-clock spin measures the machine's load, not procCPU.
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before, ruBefore := procCPU(os.Getpid()), rusage()
	for start := time.Now(); rusage()-ruBefore < 100*time.Millisecond && time.Since(start) < 30*time.Second; {
	}
	spun := rusage() - ruBefore
	if got := procCPU(os.Getpid()) - before; got < spun/2 || got > spun+50*time.Millisecond {
		t.Errorf("%v of CPU (getrusage) counted as %v", spun, got)
	}
	if got := procParent(os.Getpid()); got != os.Getppid() {
		t.Errorf("procParent = %d, want %d", got, os.Getppid())
	}
	if procCPU(0) != 0 || procParent(-1) != 0 {
		t.Error("no process should read as 0")
	}
}

func TestPostmasterPID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte("4242\n/var/lib/pg\n1700000000\n5432\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := postmasterPID(dir); got != 4242 {
		t.Errorf("postmasterPID = %d, want 4242", got)
	}
	if got := postmasterPID(t.TempDir()); got != 0 {
		t.Errorf("postmasterPID of a dir without the file = %d, want 0", got)
	}
}
