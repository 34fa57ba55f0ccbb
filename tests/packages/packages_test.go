// Package packages builds the .deb packages as `make packages` does
// (packaging/cmd/mkdeb, nfpm) from freshly built agents, and checks them
// with dpkg's own tools: control fields, the files and their modes, the
// conffiles, maintainer scripts that enable nothing, and each packaged
// binary's --version. As root, with VIRTWATT_REQUIRE_TOOLS=1 (CI) or
// VIRTWATT_DPKG_INSTALL=1, it also installs both packages on this machine
// with dpkg -i, checks what landed, and purges them again.
package packages

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
)

const version = "v9.8.7" // → Debian version 9.8.7

var repo, _ = filepath.Abs("../..")

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, name := range tools {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv("VIRTWATT_REQUIRE_TOOLS") == "1" {
				t.Fatalf("%s not found: VIRTWATT_REQUIRE_TOOLS=1", name)
			}
			t.Skipf("%s not found", name)
		}
	}
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// pkg is what one package must hold.
type pkg struct {
	name    string
	files   map[string]string // installed path → mode as dpkg-deb -c prints it
	same    map[string]string // installed path → repository file it must equal
	conf    []string
	depends string
}

var pkgs = []pkg{
	{
		name: "virtwatt-host",
		files: map[string]string{
			"/usr/bin/virtwatt-host": "-rwxr-xr-x", "/lib/systemd/system/virtwatt-host.service": "-rw-r--r--",
			"/usr/lib/tmpfiles.d/virtwatt.conf": "-rw-r--r--", "/etc/virtwatt/host.toml": "-rw-r--r--",
			"/usr/share/doc/virtwatt-host/examples/protect-system.conf": "-rw-r--r--",
		},
		same: map[string]string{
			"/lib/systemd/system/virtwatt-host.service":                 "configs/systemd/virtwatt-host.service",
			"/usr/lib/tmpfiles.d/virtwatt.conf":                         "configs/tmpfiles.d/virtwatt.conf",
			"/etc/virtwatt/host.toml":                                   "configs/host.toml",
			"/usr/share/doc/virtwatt-host/examples/protect-system.conf": "configs/systemd/virtwatt-host.service.d/protect-system.conf",
		},
		conf:    []string{"/etc/virtwatt/host.toml"},
		depends: "libvirt0",
	},
	{
		name: "virtwatt-guest",
		files: map[string]string{
			"/usr/bin/virtwatt-guest": "-rwxr-xr-x", "/lib/systemd/system/virtwatt-guest.service": "-rw-r--r--",
			"/lib/systemd/system/mnt-virtwatt.mount": "-rw-r--r--", "/etc/virtwatt/guest.toml": "-rw-r--r--",
			"/usr/share/doc/virtwatt-guest/fstab.example": "-rw-r--r--",
		},
		same: map[string]string{
			"/lib/systemd/system/virtwatt-guest.service": "configs/systemd/virtwatt-guest.service",
			"/lib/systemd/system/mnt-virtwatt.mount":     "configs/systemd/mnt-virtwatt.mount",
			"/etc/virtwatt/guest.toml":                   "configs/guest.toml",
		},
		conf: []string{"/etc/virtwatt/guest.toml"},
	},
}

// build builds both agents and both packages into a temp dir and returns
// the .deb paths by package name.
func build(t *testing.T) map[string]string {
	t.Helper()
	need(t, "go", "dpkg-deb", "pkg-config")
	if err := exec.Command("pkg-config", "--exists", "libvirt").Run(); err != nil {
		if os.Getenv("VIRTWATT_REQUIRE_TOOLS") == "1" {
			t.Fatal("libvirt-dev missing (the host agent's cgo binding): VIRTWATT_REQUIRE_TOOLS=1")
		}
		t.Skip("libvirt-dev missing: apt-get install libvirt-dev")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	ld := "-s -w -X main.version=" + version
	run(t, repo, nil, "go", "build", "-ldflags", ld, "-o", filepath.Join(bin, "virtwatt-host"), "./cmd/virtwatt-host")
	run(t, repo, []string{"CGO_ENABLED=0"}, "go", "build", "-ldflags", ld, "-o", filepath.Join(bin, "virtwatt-guest"), "./cmd/virtwatt-guest")
	out := filepath.Join(tmp, "out")
	printed := run(t, repo, []string{"SOURCE_DATE_EPOCH=1700000000"}, "go", "-C", "packaging", "run", "./cmd/mkdeb",
		"--bin", bin, "--version", version, "--out", out, "--root", repo)
	debs := map[string]string{}
	for _, l := range strings.Fields(printed) {
		debs[strings.SplitN(filepath.Base(l), "_", 2)[0]] = l
	}
	for _, p := range pkgs {
		want := filepath.Join(out, p.name+"_9.8.7_"+debArch(t)+".deb")
		if debs[p.name] != want {
			t.Fatalf("mkdeb printed %q, want %s among them", printed, want)
		}
	}
	return debs
}

func debArch(t *testing.T) string {
	t.Helper()
	b, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		t.Fatalf("dpkg --print-architecture: %v", err)
	}
	return strings.TrimSpace(string(b))
}

var listLine = regexp.MustCompile(`^(\S+) \S+\s+\d+ \S+ \S+ \.(/\S*)$`)

func TestPackages(t *testing.T) {
	debs := build(t)
	for _, p := range pkgs {
		t.Run(p.name, func(t *testing.T) {
			deb := debs[p.name]
			fields := run(t, "", nil, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends")
			for _, want := range []string{"Package: " + p.name, "Version: 9.8.7", "Architecture: " + debArch(t)} {
				if !strings.Contains(fields, want+"\n") {
					t.Errorf("control lacks %q:\n%s", want, fields)
				}
			}
			if p.depends != "" && !strings.Contains(fields, p.depends) {
				t.Errorf("Depends lacks %s:\n%s", p.depends, fields)
			}

			got := map[string]string{}
			for _, l := range strings.Split(run(t, "", nil, "dpkg-deb", "-c", deb), "\n") {
				if m := listLine.FindStringSubmatch(l); m != nil {
					got[strings.TrimSuffix(m[2], "/")] = m[1]
				}
			}
			for path, mode := range p.files {
				if got[path] != mode {
					t.Errorf("%s: %s is %q, want %s", p.name, path, got[path], mode)
				}
			}

			ctrl := t.TempDir()
			run(t, "", nil, "dpkg-deb", "-e", deb, ctrl)
			conffiles, _ := os.ReadFile(filepath.Join(ctrl, "conffiles"))
			gotConf := strings.Fields(string(conffiles))
			sort.Strings(gotConf)
			if fmt.Sprint(gotConf) != fmt.Sprint(p.conf) {
				t.Errorf("conffiles = %v, want %v", gotConf, p.conf)
			}
			for _, script := range []string{"postinst", "prerm", "postrm"} {
				b, err := os.ReadFile(filepath.Join(ctrl, script))
				if err != nil {
					t.Errorf("no %s: %v", script, err)
					continue
				}
				code := regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAll(b, nil) // comments may say what to run
				if regexp.MustCompile(`systemctl\s+(enable|start|restart|reenable|unmask)|deb-systemd-helper\s+enable`).Match(code) {
					t.Errorf("%s enables or starts something:\n%s", script, b)
				}
			}
			if b, _ := os.ReadFile(filepath.Join(ctrl, "postinst")); !strings.Contains(string(b), "daemon-reload") {
				t.Errorf("postinst does not reload systemd's units:\n%s", b)
			}

			root := t.TempDir()
			run(t, "", nil, "dpkg-deb", "-x", deb, root)
			for path, src := range p.same {
				a, _ := os.ReadFile(filepath.Join(root, path))
				b, err := os.ReadFile(filepath.Join(repo, src))
				if err != nil || !bytes.Equal(a, b) {
					t.Errorf("%s differs from %s (%v)", path, src, err)
				}
			}
			v := run(t, "", nil, filepath.Join(root, "usr/bin", p.name), "--version")
			if want := p.name + ", version " + version + " "; !strings.HasPrefix(v, want) { // prometheus/common/version.Print
				t.Errorf("%s --version = %q, want it to start with %q", p.name, v, want)
			}
		})
	}
	t.Run("dpkg-install", func(t *testing.T) { install(t, debs) })
}

// install installs both packages on this machine, checks them, and purges
// them; only as root, and only when asked (CI).
func install(t *testing.T, debs map[string]string) {
	if os.Geteuid() != 0 || (os.Getenv("VIRTWATT_REQUIRE_TOOLS") != "1" && os.Getenv("VIRTWATT_DPKG_INSTALL") != "1") {
		t.Skip("a real dpkg -i runs as root with VIRTWATT_REQUIRE_TOOLS=1 or VIRTWATT_DPKG_INSTALL=1")
	}
	need(t, "dpkg", "dpkg-query")
	// One dpkg at a time among concurrent test runs.
	lock, err := os.OpenFile("/tmp/virtwatt-dpkg.lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		if st, _ := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status}", p.name).Output(); len(st) > 0 && string(st) != "not-installed" {
			t.Fatalf("%s is already installed here (%s): purge it first (dpkg --purge %s)", p.name, st, p.name)
		}
	}
	t.Cleanup(func() { _ = exec.Command("dpkg", "--purge", "virtwatt-host", "virtwatt-guest").Run() })
	run(t, "", []string{"DEBIAN_FRONTEND=noninteractive"}, "dpkg", "-i", debs["virtwatt-host"], debs["virtwatt-guest"])
	for _, p := range pkgs {
		if st := run(t, "", nil, "dpkg-query", "-W", "-f=${Status} ${Version}", p.name); st != "install ok installed 9.8.7" {
			t.Errorf("%s: dpkg-query says %q", p.name, st)
		}
		for path := range p.files {
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s installed without %s: %v", p.name, path, err)
			}
		}
		if v := run(t, "", nil, "/usr/bin/"+p.name, "--version"); !strings.HasPrefix(v, p.name+", version "+version+" ") {
			t.Errorf("/usr/bin/%s --version = %q", p.name, v)
		}
		unit := p.name + ".service"
		if _, err := os.Lstat("/etc/systemd/system/multi-user.target.wants/" + unit); err == nil {
			t.Errorf("installing %s enabled %s", p.name, unit)
		}
	}
	if st, err := os.Stat("/run/virtwatt"); err != nil || !st.IsDir() {
		t.Errorf("postinst did not create /run/virtwatt (systemd-tmpfiles): %v", err)
	}
	run(t, "", nil, "dpkg", "--purge", "virtwatt-host", "virtwatt-guest")
	for _, p := range pkgs {
		for path := range p.files {
			if _, err := os.Lstat(path); err == nil {
				t.Errorf("%s left behind after dpkg --purge %s", path, p.name)
			}
		}
		if st, _ := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status}", p.name).Output(); len(st) > 0 && string(st) != "not-installed" {
			t.Errorf("%s: status %q after purge", p.name, st)
		}
	}
	if _, err := os.Stat("/etc/virtwatt"); err == nil {
		t.Errorf("/etc/virtwatt left behind after purge")
	}
}
