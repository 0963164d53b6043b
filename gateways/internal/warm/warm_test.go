package warm

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	linger = 300 * time.Millisecond // before any goroutine of the package reads it
	os.Exit(m.Run())
}

// TestGoReusesIdleGoroutines: functions run, counted in their WaitGroup;
// one started after another returned runs on the same goroutine; idle
// goroutines end after linger.
func TestGoReusesIdleGoroutines(t *testing.T) {
	waitIdle := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > want {
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines, want at most %d", runtime.NumGoroutine(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	base := runtime.NumGoroutine()

	var wg sync.WaitGroup
	ids := make(chan uint64, 2)
	for range 2 {
		Go(&wg, func() { ids <- goid() })
		wg.Wait() // counted: returns once the function has run
		time.Sleep(20 * time.Millisecond)
	}
	if a, b := <-ids, <-ids; a != b {
		t.Errorf("the second function ran on goroutine %d, the first on %d: want the same", b, a)
	}

	// Functions that run at once each get a goroutine; all end once idle.
	release := make(chan struct{})
	for range 8 {
		Go(&wg, func() { <-release })
	}
	if n := runtime.NumGoroutine(); n < base+8 {
		t.Errorf("%d goroutines with 8 functions blocked, want at least %d", n, base+8)
	}
	close(release)
	wg.Wait()
	waitIdle(base)
}

// goid returns the current goroutine's id, from its stack header.
func goid() uint64 {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	var id uint64
	for _, c := range b[len("goroutine "):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
