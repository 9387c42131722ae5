package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestProcCPUAndParent(t *testing.T) {
	before := procCPU(os.Getpid())
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
	}
	if after := procCPU(os.Getpid()); after-before < 20*time.Millisecond {
		t.Errorf("100ms of spinning counted as %v", after-before)
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
