package procinfo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOpenFDsCountsWhatIsOpened(t *testing.T) {
	before := OpenFDs()
	if before < 3 {
		t.Fatalf("OpenFDs = %d before opening anything: want at least stdin, stdout, stderr", before)
	}
	var files []*os.File
	for i := range 5 {
		f, err := os.Create(filepath.Join(t.TempDir(), "f"+string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if got := OpenFDs(); got != before+5 {
		t.Errorf("OpenFDs with 5 more files open = %d, want %d", got, before+5)
	}
	for _, f := range files {
		f.Close()
	}
	if got := OpenFDs(); got != before {
		t.Errorf("OpenFDs after closing them = %d, want %d", got, before)
	}
}
