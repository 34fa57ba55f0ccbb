package discover

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tree writes files (path → content) under a new temp root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, v := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(p, "/") {
			continue
		}
		if err := os.WriteFile(full, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const rootMount = "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"

func TestFind(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []Share // Device relative to the root
	}{
		{"nothing", map[string]string{"bus/virtio/drivers/": ""}, nil},
		{"9p tag with its NUL", map[string]string{
			"bus/virtio/drivers/9pnet_virtio/virtio1/mount_tag": "other\x00",
			"bus/virtio/drivers/9pnet_virtio/virtio2/mount_tag": "virtwatt\x00",
		}, []Share{{Type: Type9p, Tag: Tag, Device: "bus/virtio/drivers/9pnet_virtio/virtio2"}}},
		{"virtiofs tag in sysfs (Linux 6.10+)", map[string]string{
			"fs/virtiofs/0/tag":                     "data\n",
			"fs/virtiofs/1/tag":                     "virtwatt\n",
			"bus/virtio/drivers/virtiofs/virtio3/x": "",
		}, []Share{{Type: TypeVirtiofs, Tag: Tag, Device: "fs/virtiofs/1"}}},
		{"virtiofs elsewhere only: no guess when the kernel shows tags", map[string]string{
			"fs/virtiofs/0/tag":                     "data\n",
			"bus/virtio/drivers/virtiofs/virtio3/x": "",
		}, nil},
		{"virtiofs device without tags (Debian 12's 6.1): a candidate", map[string]string{
			"bus/virtio/drivers/virtiofs/virtio4/x": "",
			"bus/virtio/drivers/virtiofs/virtio3/x": "",
		}, []Share{{Type: TypeVirtiofs, Tag: Tag, Device: "bus/virtio/drivers/virtiofs/virtio3", Candidate: true}}},
		{"9p first, then the candidate", map[string]string{
			"bus/virtio/drivers/9pnet_virtio/virtio1/mount_tag": "virtwatt\x00",
			"bus/virtio/drivers/virtiofs/virtio3/x":             "",
		}, []Share{
			{Type: Type9p, Tag: Tag, Device: "bus/virtio/drivers/9pnet_virtio/virtio1"},
			{Type: TypeVirtiofs, Tag: Tag, Device: "bus/virtio/drivers/virtiofs/virtio3", Candidate: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tree(t, tc.files)
			got, err := Find(root, Tag)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Find = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				w := tc.want[i]
				w.Device = filepath.Join(root, w.Device)
				if got[i] != w {
					t.Errorf("share %d = %+v, want %+v", i, got[i], w)
				}
			}
		})
	}
}

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		s    Share
		want string
	}{
		{Share{Type: Type9p, Tag: Tag}, "mkdir -p /mnt/virtwatt && mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144 virtwatt /mnt/virtwatt"},
		{Share{Type: TypeVirtiofs, Tag: Tag}, "mkdir -p /mnt/virtwatt && mount -t virtiofs -o ro virtwatt /mnt/virtwatt"},
	} {
		if got := tc.s.Command("/mnt/virtwatt"); got != tc.want {
			t.Errorf("Command = %q, want %q", got, tc.want)
		}
	}
}

func TestMountAt(t *testing.T) {
	proc := tree(t, map[string]string{"self/mountinfo": rootMount +
		"40 22 0:40 / /mnt/virtwatt rw,relatime - tmpfs tmp rw\n" +
		"41 40 0:41 / /mnt/virtwatt ro,nosuid,nodev,noexec,relatime - 9p virtwatt rw,access=client,trans=virtio\n" +
		"42 22 0:42 / /mnt/other rw - virtiofs data ro\n"})
	for _, tc := range []struct {
		dir  string
		want Mount
		ok   bool
	}{
		{"/mnt/virtwatt/", Mount{FSType: "9p", Source: "virtwatt", ReadOnly: true}, true}, // the top of the stack
		{"/mnt/other", Mount{FSType: "virtiofs", Source: "data", ReadOnly: true}, true},   // ro superblock
		{"/mnt", Mount{}, false},
	} {
		got, ok, err := MountAt(proc, tc.dir)
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("MountAt(%s) = %+v, %v, %v; want %+v, %v", tc.dir, got, ok, err, tc.want, tc.ok)
		}
	}
	if _, _, err := MountAt(t.TempDir(), "/mnt"); err == nil || !strings.Contains(err.Error(), "mountinfo") {
		t.Errorf("no mountinfo: err = %v, want one naming the file", err)
	}
}

// mountCall is one call of a fake mount(2).
type mountCall struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

func fakeMount(calls *[]mountCall, errs ...error) MountFunc {
	return func(source, target, fstype string, flags uintptr, data string) error {
		*calls = append(*calls, mountCall{source, target, fstype, flags, data})
		if len(errs) == 0 {
			return nil
		}
		err := errs[0]
		errs = errs[1:]
		return err
	}
}

const roFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

func TestStep(t *testing.T) {
	nineP := map[string]string{"bus/virtio/drivers/9pnet_virtio/virtio1/mount_tag": "virtwatt\x00"}
	candidate := map[string]string{"bus/virtio/drivers/virtiofs/virtio3/x": ""}
	for _, tc := range []struct {
		name      string
		sys       map[string]string
		mountinfo string
		local     bool // the share dir holds a record
		errs      []error
		state     string
		calls     []mountCall // target filled in
	}{
		{"9p mounted read-only", nineP, rootMount, false, nil, StateMountedNow,
			[]mountCall{{"virtwatt", "", "9p", roFlags, Options9p}}},
		{"already a mount point: nothing done", nineP, rootMount + "40 22 0:40 / SHARE ro - 9p virtwatt rw\n", false, nil, StateMounted, nil},
		{"a local share (the demo): nothing done", nineP, rootMount, true, nil, StateLocal, nil},
		{"no share attached", map[string]string{"bus/": ""}, rootMount, false, nil, StateNotFound, nil},
		{"not root: the command to run", nineP, rootMount, false, []error{unix.EPERM}, StateNoPrivilege,
			[]mountCall{{"virtwatt", "", "9p", roFlags, Options9p}}},
		{"virtiofs candidate mounted", candidate, rootMount, false, nil, StateMountedNow,
			[]mountCall{{"virtwatt", "", "virtiofs", roFlags, ""}}},
		{"virtiofs candidate with another tag (6.1 says EINVAL)", candidate, rootMount, false, []error{unix.EINVAL}, StateNotFound,
			[]mountCall{{"virtwatt", "", "virtiofs", roFlags, ""}}},
		{"a 9p mount that fails otherwise", nineP, rootMount, false, []error{unix.EIO}, StateFailed,
			[]mountCall{{"virtwatt", "", "9p", roFlags, Options9p}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mnt", "virtwatt")
			if tc.local {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "virtwatt.json"), []byte("{}"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			proc := tree(t, map[string]string{"self/mountinfo": strings.ReplaceAll(tc.mountinfo, "SHARE", dir)})
			var calls []mountCall
			r := Step(Options{ShareDir: dir, SysRoot: tree(t, tc.sys), ProcRoot: proc, Mount: fakeMount(&calls, tc.errs...)})
			if r.State != tc.state {
				t.Fatalf("state = %s (err %v), want %s", r.State, r.Err, tc.state)
			}
			for i := range tc.calls {
				tc.calls[i].target = dir
			}
			if len(calls) != len(tc.calls) {
				t.Fatalf("mount calls = %+v, want %+v", calls, tc.calls)
			}
			for i := range calls {
				if calls[i] != tc.calls[i] {
					t.Errorf("mount call %d = %+v, want %+v", i, calls[i], tc.calls[i])
				}
			}
			if tc.state == StateNoPrivilege && !strings.Contains(r.Command, "mount -t 9p -o ro,") {
				t.Errorf("command = %q", r.Command)
			}
			if len(tc.calls) > 0 {
				if st, err := os.Stat(dir); err != nil || !st.IsDir() {
					t.Errorf("share dir not created before the mount: %v", err)
				}
			}
		})
	}
}

// Run says the command once however often it looks, and mounts once
// the agent may.
func TestRunLogsOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "virtwatt")
	sys := tree(t, map[string]string{"bus/virtio/drivers/9pnet_virtio/virtio1/mount_tag": "virtwatt\x00"})
	proc := tree(t, map[string]string{"self/mountinfo": rootMount})
	var calls []mountCall
	var log bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	mnt := fakeMount(&calls, unix.EPERM, unix.EPERM, unix.EPERM, unix.EPERM)
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Options{ShareDir: dir, SysRoot: sys, ProcRoot: proc, Interval: time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(&log, nil)),
			Mount: func(s, tg, f string, fl uintptr, d string) error {
				n++
				if n == 5 {
					// mounted: the next looks find a mount point
					_ = os.WriteFile(filepath.Join(proc, "self/mountinfo"),
						[]byte(rootMount+"40 22 0:40 / "+dir+" ro - 9p virtwatt rw\n"), 0o644)
					time.AfterFunc(50*time.Millisecond, cancel) // dozens more looks
				}
				return mnt(s, tg, f, fl, d)
			}})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("Run did not stop")
	}
	if len(calls) != 5 {
		t.Errorf("%d mount calls, want 5 (4 refused, 1 that worked, none once mounted)", len(calls))
	}
	out := log.String()
	if c := strings.Count(out, "as root run: mkdir -p "+dir+" && mount -t 9p"); c != 1 {
		t.Errorf("the mount command is logged %d times, want once:\n%s", c, out)
	}
	if c := strings.Count(out, "share found and mounted read-only"); c != 1 {
		t.Errorf("the mount is logged %d times, want once:\n%s", c, out)
	}
}

// TestNext: Run looks every Interval until the share is there, then only
// every SettledFactor intervals.
func TestNext(t *testing.T) {
	o := Options{Interval: 5 * time.Second}
	for state, want := range map[string]time.Duration{
		StateMounted: time.Minute, StateMountedNow: time.Minute, StateLocal: time.Minute,
		StateNotFound: 5 * time.Second, StateNoPrivilege: 5 * time.Second, StateFailed: 5 * time.Second,
	} {
		if got := next(o, Result{State: state}); got != want {
			t.Errorf("after %s: next look in %v, want %v", state, got, want)
		}
	}
}

// TestRunSettled: with the share in place Run does not look again within
// SettledFactor intervals (a broken mount table is not even read).
func TestRunSettled(t *testing.T) {
	dir := tree(t, map[string]string{"virtwatt.json": "{}"})
	proc := tree(t, map[string]string{"self/mountinfo": rootMount})
	var log bytes.Buffer
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Options{ShareDir: dir, SysRoot: t.TempDir(), ProcRoot: proc, Interval: time.Second,
			Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, nil))})
	}()
	time.Sleep(200 * time.Millisecond) // the first look (local share) is done
	if err := os.Remove(filepath.Join(proc, "self/mountinfo")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // 1.5 intervals, well under SettledFactor
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(log.String(), "looking for the share failed") {
		t.Errorf("Run looked again within %d intervals of finding the share:\n%s", SettledFactor, log.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
