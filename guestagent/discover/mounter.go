package discover

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/virtwatt/virtwatt/share"
)

// DefaultInterval is how often Run looks again while the share is not
// mounted: a virtiofs share can be hot-plugged (`virtwatt-host attach --live`).
const DefaultInterval = 5 * time.Second

// SettledFactor: once the share dir is mounted (or holds a local share),
// Run looks only every SettledFactor × Interval (1 min by default), enough
// to mount again after a detach and re-attach. Each look parses the whole
// mount table, which at every 5 s was about 7 % of an idle guest agent's
// CPU.
const SettledFactor = 12

// MountFunc is mount(2); unix.Mount in production.
type MountFunc func(source, target, fstype string, flags uintptr, data string) error

// Options say where to look and what to mount.
type Options struct {
	ShareDir string // where the share goes (--share-dir)
	Tag      string // default Tag
	SysRoot  string // default "/sys"
	ProcRoot string // default "/proc"
	Mount    MountFunc
	Interval time.Duration // default DefaultInterval
	Logger   *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Tag == "" {
		o.Tag = Tag
	}
	if o.SysRoot == "" {
		o.SysRoot = "/sys"
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Mount == nil {
		o.Mount = unix.Mount
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// States a Step ends in.
const (
	StateMounted     = "mounted"      // the share dir is a mount point (ours or the user's)
	StateLocal       = "local"        // the share dir holds a share without being a mount point
	StateNotFound    = "not_found"    // no virtio file system tagged Tag
	StateMountedNow  = "mounted_now"  // this step mounted it
	StateNoPrivilege = "no_privilege" // found, but the agent may not mount: Command says how
	StateFailed      = "failed"       // found, the mount failed otherwise
)

// Result is one Step's outcome.
type Result struct {
	State   string
	Share   Share  // the share found (StateMountedNow, StateNoPrivilege, StateFailed)
	Command string // the mount command for a user (StateNoPrivilege, StateFailed)
	Err     error
}

// Step looks once: when the share dir is neither a mount point nor a local
// share, it finds the share and mounts it read-only.
func Step(o Options) Result {
	o = o.withDefaults()
	if _, ok, err := MountAt(o.ProcRoot, o.ShareDir); err != nil {
		return Result{State: StateFailed, Err: err}
	} else if ok {
		return Result{State: StateMounted}
	}
	if hasShare(o.ShareDir) {
		return Result{State: StateLocal}
	}
	shares, err := Find(o.SysRoot, o.Tag)
	if err != nil {
		return Result{State: StateFailed, Err: err}
	}
	if len(shares) == 0 {
		return Result{State: StateNotFound}
	}
	var last Result
	for _, s := range shares {
		r := mount(o, s)
		if r.State == StateMountedNow || r.State == StateNoPrivilege {
			return r
		}
		if s.Candidate && (errors.Is(r.Err, unix.EINVAL) || errors.Is(r.Err, unix.ENOENT)) {
			continue // the virtiofs device is not tagged Tag
		}
		last = r
	}
	if last.State == "" {
		return Result{State: StateNotFound}
	}
	return last
}

// hasShare reports whether dir already holds a record or a powercap tree.
func hasShare(dir string) bool {
	for _, p := range []string{share.RecordFile, filepath.Join(share.PackageZoneDir, share.EnergyFile)} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			return true
		}
	}
	return false
}

func mount(o Options, s Share) Result {
	r := Result{Share: s, Command: s.Command(o.ShareDir)}
	if err := os.MkdirAll(o.ShareDir, 0o755); err != nil {
		r.State, r.Err = StateNoPrivilege, fmt.Errorf("creating %s: %w", o.ShareDir, err)
		if !errors.Is(err, fs.ErrPermission) {
			r.State = StateFailed
		}
		return r
	}
	data := ""
	if s.Type == Type9p {
		data = Options9p
	}
	err := o.Mount(s.Tag, o.ShareDir, s.Type, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data)
	switch {
	case err == nil:
		r.State = StateMountedNow
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		r.State, r.Err = StateNoPrivilege, fmt.Errorf("mount %s %s on %s: %w", s.Type, s.Tag, o.ShareDir, err)
	default:
		r.State, r.Err = StateFailed, fmt.Errorf("mount %s %s on %s: %w", s.Type, s.Tag, o.ShareDir, err)
	}
	return r
}

// Run repeats Step until ctx ends, every Interval while the share is not
// mounted and every SettledFactor × Interval once it is, logging each new
// outcome once: the share mounted, or the exact command to mount it.
func Run(ctx context.Context, o Options) {
	o = o.withDefaults()
	t := time.NewTimer(o.Interval)
	defer t.Stop()
	last := ""
	for {
		r := Step(o)
		if key := r.State + r.Command; key != last {
			last = key
			report(o, r)
		}
		t.Reset(next(o, r))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// next is how long Run waits after a Step that ended in r.
func next(o Options, r Result) time.Duration {
	switch r.State {
	case StateMounted, StateMountedNow, StateLocal:
		return SettledFactor * o.Interval
	}
	return o.Interval
}

func report(o Options, r Result) {
	switch r.State {
	case StateMountedNow:
		o.Logger.Info("share found and mounted read-only", "type", r.Share.Type, "tag", r.Share.Tag, "dir", o.ShareDir, "device", r.Share.Device)
	case StateNoPrivilege:
		o.Logger.Warn(fmt.Sprintf("share %q (%s) found but this agent may not mount it; as root run: %s", r.Share.Tag, r.Share.Type, r.Command),
			"err", r.Err)
	case StateFailed:
		o.Logger.Warn("looking for the share failed", "err", r.Err, "command", r.Command)
	case StateNotFound:
		o.Logger.Debug("no virtio file system tagged "+o.Tag+" (is the share attached? virtwatt-host attach DOMAIN)", "dir", o.ShareDir)
	}
}
