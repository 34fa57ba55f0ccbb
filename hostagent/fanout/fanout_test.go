package fanout

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/virtwatt/virtwatt/hostagent/domain"
	"github.com/virtwatt/virtwatt/share"
)

// memWriter is a share writer in memory.
type memWriter struct {
	mu      sync.Mutex
	dirs    map[string]bool
	written map[string]int // name → writes
	fail    map[string]error
	removed []string
}

func newMem() *memWriter {
	return &memWriter{dirs: map[string]bool{}, written: map[string]int{}, fail: map[string]error{}}
}

func (m *memWriter) EnsureDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dirs[name] = true
	return nil
}

func (m *memWriter) Write(name string, _ *share.Record, _ bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail[name]; err != nil {
		return err
	}
	m.written[name]++
	return nil
}

func (m *memWriter) ReadRecord(string) (*share.Record, error) { return nil, errors.New("none") }

func (m *memWriter) List() ([]string, error) {
	var names []string
	for n := range m.dirs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

func (m *memWriter) Remove(name string) error {
	delete(m.dirs, name)
	m.removed = append(m.removed, name)
	return nil
}

// WriterFor is FNV-1a of the name modulo n, the function earlier builds
// used (a restart must not move a domain to another writer's cache).
func TestWriterForIsFNV1a(t *testing.T) {
	for i := range 500 {
		name := fmt.Sprintf("vm-%d-%x", i, i*7919)
		for _, n := range []int{2, 3, 4, 7} {
			h := fnv.New32a()
			h.Write([]byte(name))
			if got, want := WriterFor(name, n), int(h.Sum32()%uint32(n)); got != want {
				t.Fatalf("WriterFor(%q, %d) = %d, want %d", name, n, got, want)
			}
		}
	}
	if WriterFor("x", 1) != 0 || WriterFor("x", 0) != 0 {
		t.Fatal("one writer or none: want 0")
	}
}

// A stopped domain is written when first seen and when its state
// changes; a failed write is retried; a running one each tick; every
// share goes through its own writer.
func TestDueWriteAndPrune(t *testing.T) {
	ws := []*memWriter{newMem(), newMem(), newMem()}
	s := New([]Writer{ws[0], ws[1], ws[2]}, false, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	var doms []domain.Domain
	for i := range ParallelFrom + 8 {
		doms = append(doms, domain.Domain{Name: fmt.Sprintf("vm%d", i), UUID: fmt.Sprintf("u%d", i), State: domain.StateRunning})
	}
	doms[0].State = domain.StateShutoff
	doms = append(doms, domain.Domain{Name: "bad/name", UUID: "ubad", State: domain.StateRunning})
	ws[WriterFor("vm1", 3)].fail["vm1"] = errors.New("disk full")
	dirs := map[string]time.Time{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tick := func(now time.Time) []Failure {
		s.Begin()
		for i := range doms {
			if s.Due(&doms[i]) {
				*s.Add(&doms[i]) = share.Record{}
			}
		}
		f := s.Write()
		s.Seen(now, doms, dirs)
		return f
	}
	for k := range 3 {
		f := tick(t0.Add(time.Duration(k) * time.Second))
		if len(f) != 1 || f[0].Name != "vm1" {
			t.Fatalf("tick %d: failures %v, want vm1's", k, f)
		}
	}
	for i, d := range doms[:len(doms)-1] {
		want := 3
		switch i {
		case 0:
			want = 1 // shut off: once
		case 1:
			want = 0 // failing
		}
		if got := ws[WriterFor(d.Name, 3)].written[d.Name]; got != want {
			t.Errorf("%s written %d times by its writer, want %d", d.Name, got, want)
		}
	}
	if ws[0].written["bad/name"]+ws[1].written["bad/name"]+ws[2].written["bad/name"] != 0 {
		t.Error("a name no directory can have was written")
	}
	delete(ws[WriterFor("vm1", 3)].fail, "vm1")
	doms[0].State = domain.StateRunning
	if f := tick(t0.Add(3 * time.Second)); len(f) != 0 {
		t.Fatal(f)
	}
	if ws[WriterFor("vm0", 3)].written["vm0"] != 2 || ws[WriterFor("vm1", 3)].written["vm1"] != 1 {
		t.Error("state change or retry not written")
	}

	// Prune: vm2 vanishes; its directory goes after the grace period only,
	// and prune looks at most once a minute.
	ws[0].dirs["vm2"] = true
	ws[0].dirs["stray"] = true
	doms = slices.Delete(doms, 2, 3)
	now := t0.Add(4 * time.Second)
	s.Seen(now, doms, dirs)
	if looked, _ := s.Prune(now, dirs, 10*time.Minute); !looked {
		t.Fatal("first prune did not look")
	}
	if _, ok := dirs["stray"]; !ok || len(ws[0].removed) != 0 {
		t.Fatalf("stray's clock not started, or removed early: %v %v", dirs, ws[0].removed)
	}
	if looked, _ := s.Prune(now.Add(30*time.Second), dirs, 10*time.Minute); looked {
		t.Fatal("prune looked twice within a minute")
	}
	now = now.Add(11 * time.Minute)
	s.Seen(now, doms, dirs)
	if looked, failed := s.Prune(now, dirs, 10*time.Minute); !looked || failed != 0 {
		t.Fatal("prune did not look")
	}
	if slices.Sort(ws[0].removed); !slices.Equal(ws[0].removed, []string{"stray", "vm2"}) {
		t.Fatalf("removed %v, want stray and vm2", ws[0].removed)
	}
	if _, ok := dirs["vm2"]; ok {
		t.Fatal("pruned directory kept its entry")
	}
}
