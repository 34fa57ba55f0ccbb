// Package scripts tests scripts/lib.sh, which the install and demo scripts
// source: root with or without sudo, and the Go toolchain go.mod needs,
// downloaded from a (here local, fake) module proxy when Go is missing.
package scripts

import (
	"archive/zip"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var repo, _ = filepath.Abs("../..")

// fakeBin writes executable scripts (name → body) into a new directory.
func fakeBin(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sh runs script after sourcing scripts/lib.sh with PATH = bins + the
// basic system tools, and returns its output and error.
func sh(t *testing.T, env []string, script string, bins ...string) (string, error) {
	t.Helper()
	sys := fakeBin(t, nil)
	for _, tool := range []string{"awk", "sort", "head", "dirname", "mktemp", "mkdir", "rm", "mv", "chmod", "find", "unzip", "curl", "cat", "env", "ls"} {
		if p, err := exec.LookPath(tool); err == nil {
			if err := os.Symlink(p, filepath.Join(sys, tool)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command("/bin/bash", "-c", ". scripts/lib.sh\n"+script)
	cmd.Dir = repo
	cmd.Env = append([]string{"PATH=" + strings.Join(append(bins, sys), ":"), "HOME=" + t.TempDir(), "VIRTWATT_ROOT=" + repo,
		"GO_LOCAL=" + filepath.Join(t.TempDir(), "no-go")}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestAsRoot(t *testing.T) {
	user := fakeBin(t, map[string]string{"id": "echo 1000"})
	root := fakeBin(t, map[string]string{"id": "echo 0"})
	sudo := fakeBin(t, map[string]string{"sudo": `echo "sudo: $*"`})
	for _, tc := range []struct {
		name string
		bins []string
		ok   bool
		want string
	}{
		{"root runs it", []string{root}, true, "ran apt-get install -y libvirt-dev"},
		{"a user with sudo goes through sudo", []string{user, sudo}, true, "sudo: echo ran apt-get install -y libvirt-dev"},
		{"a user without sudo is told what to run", []string{user}, false, "as root, run:\n  echo ran apt-get install -y libvirt-dev \n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := sh(t, nil, "as_root echo ran apt-get install -y libvirt-dev", tc.bins...)
			if (err == nil) != tc.ok || !strings.Contains(out, tc.want) {
				t.Errorf("err %v, output %q; want ok=%v and %q", err, out, tc.ok, tc.want)
			}
		})
	}
}

func TestGoWanted(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := sh(t, nil, "go_wanted")
	if err != nil || !strings.Contains(string(b), "\ngo "+strings.TrimSpace(out)+"\n") {
		t.Errorf("go_wanted = %q, %v; go.mod says:\n%s", out, err, b)
	}
	for _, tc := range []struct {
		a, b string
		ge   bool
	}{{"go1.26.8", "go1.26.8", true}, {"go1.26.10", "go1.26.8", true}, {"go1.26.7", "go1.26.8", false}, {"go1.9", "go1.21", false}, {"go1.21.0", "go1.21", true}} {
		_, err := sh(t, nil, "version_ge "+tc.a+" "+tc.b)
		if (err == nil) != tc.ge {
			t.Errorf("version_ge %s %s: %v, want %v", tc.a, tc.b, err, tc.ge)
		}
	}
}

// fakeGo is a go command that reports version v.
func fakeGo(v string) string {
	return `case "$1" in env) echo ` + v + ` ;; version) echo "go version ` + v + ` linux/amd64 GOTOOLCHAIN=$GOTOOLCHAIN" ;; esac`
}

func TestEnsureGo(t *testing.T) {
	want, _ := sh(t, nil, "go_wanted")
	want = strings.TrimSpace(want)
	user := fakeBin(t, map[string]string{"id": "echo 1000"})

	// New enough: used as it is.
	newGo := fakeBin(t, map[string]string{"go": fakeGo("go" + want)})
	out, err := sh(t, nil, "ensure_go && go version", user, newGo)
	if err != nil || !strings.Contains(out, "go version go"+want+" linux/amd64 GOTOOLCHAIN=\n") {
		t.Errorf("a new enough Go: %v %q", err, out)
	}
	// Go 1.21+ but older: it fetches the toolchain itself (GOTOOLCHAIN).
	oldGo := fakeBin(t, map[string]string{"go": fakeGo("go1.22.1")})
	out, err = sh(t, nil, "ensure_go && go version", user, oldGo)
	if err != nil || !strings.Contains(out, "GOTOOLCHAIN=go"+want) {
		t.Errorf("an older Go: %v %q", err, out)
	}

	// No Go: the toolchain module is downloaded from the proxy and unpacked.
	if _, err := exec.LookPath("unzip"); err != nil {
		t.Skip("unzip not installed")
	}
	mod := "golang.org/toolchain@v0.0.1-go" + want + ".linux-amd64"
	zipPath := filepath.Join(t.TempDir(), "go.zip")
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range map[string]string{
		"bin/go": "#!/bin/sh\n" + fakeGo("go"+want), "pkg/tool/linux_amd64/compile": "#!/bin/sh\n", "src/x.go": "package x\n",
	} {
		w, err := zw.Create(mod + "/" + name) // module zips carry no modes
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	f.Close()
	var asked []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		if r.URL.Path == "/golang.org/toolchain/@v/v0.0.1-go"+want+".linux-amd64.zip" {
			http.ServeFile(w, r, zipPath)
			return
		}
		http.NotFound(w, r)
	}))
	defer proxy.Close()
	if out, _ := exec.Command("uname", "-m").Output(); strings.TrimSpace(string(out)) != "x86_64" {
		t.Skip("the fake toolchain is linux-amd64")
	}
	uname := fakeBin(t, map[string]string{"uname": "echo x86_64"})
	out, err = sh(t, []string{"GOPROXY=" + proxy.URL + ",direct"}, `ensure_go && go version && echo "GO=$(command -v go)" && ls -l "$HOME/sdk/go`+want+`/pkg/tool/linux_amd64/compile"`, user, uname)
	if err != nil || !strings.Contains(out, "go version go"+want) || !strings.Contains(out, "/sdk/go"+want+"/bin/go") || !strings.Contains(out, "-rwxr-xr-x") {
		t.Errorf("no Go: %v\n%s\nproxy asked for %v", err, out, asked)
	}
	// A proxy without it: the error says how to install Go by hand.
	out, err = sh(t, []string{"GOPROXY=" + proxy.URL + "/nothing"}, "ensure_go", user, uname)
	if err == nil || !strings.Contains(out, "install Go "+want+" by hand") {
		t.Errorf("no Go, no proxy: %v %q", err, out)
	}
}
