package calibrate

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Spinner is the real Load: each busy thread is a goroutine locked to its
// OS thread, spinning until told to stop.
type Spinner struct {
	mu    sync.Mutex
	stops []*atomic.Bool
	wg    sync.WaitGroup
}

// NewSpinner returns a Spinner with no thread running.
func NewSpinner() *Spinner { return &Spinner{} }

// Set runs exactly n spinning threads; it returns once the extra ones have
// stopped.
func (s *Spinner) Set(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n = max(n, 0)
	for len(s.stops) > n {
		last := s.stops[len(s.stops)-1]
		last.Store(true)
		s.stops = s.stops[:len(s.stops)-1]
	}
	if n == 0 {
		s.wg.Wait()
	}
	for len(s.stops) < n {
		stop := new(atomic.Bool)
		s.stops = append(s.stops, stop)
		s.wg.Add(1)
		go spin(stop, &s.wg)
	}
}

var sink atomic.Uint64

func spin(stop *atomic.Bool, wg *sync.WaitGroup) {
	defer wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var x uint64
	for !stop.Load() {
		for i := 0; i < 1<<12; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink.Add(x)
}
