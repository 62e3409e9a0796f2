package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"testing"
)

// Small files are staged in memory within the budget; large files, and
// any file once the budget is spent, go to the staging directory; the
// budget is returned when the request ends.
func TestStageInMemoryOrOnDisk(t *testing.T) {
	s := newTestServer(t, 1<<30)
	small := bytes.Repeat([]byte("s"), 1000)
	large := bytes.Repeat([]byte("L"), stageInMemory+1)
	tests := []struct {
		desc   string
		data   []byte
		spent  int64 // budget spent by others before
		onDisk bool
	}{
		{"small file", small, 0, false},
		{"exactly the in-memory bound", large[:stageInMemory], 0, false},
		{"large file", large, 0, true},
		{"small file, budget spent", small, stageMemoryBudget - stageInMemory + 1, true},
		{"empty file", nil, 0, false},
	}
	for _, tt := range tests {
		s.stagedMem.Store(tt.spent)
		u := &upload{s: s}
		st, path, err := s.stage(u, bytes.NewReader(tt.data))
		if err != nil {
			t.Fatalf("%s: %v", tt.desc, err)
		}
		if (path != "") != tt.onDisk {
			t.Errorf("%s: staged on disk = %v; want %v", tt.desc, path != "", tt.onDisk)
		}
		if path != "" {
			u.paths = append(u.paths, path)
		}
		sum := sha256.Sum256(tt.data)
		if st.SHA256 != hex.EncodeToString(sum[:]) || st.Length != int64(len(tt.data)) {
			t.Errorf("%s: staged hash %s length %d", tt.desc, st.SHA256, st.Length)
		}
		for range 2 { // the publisher may open a staged file more than once
			r, err := st.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			r.Close()
			if !bytes.Equal(got, tt.data) {
				t.Errorf("%s: staged content differs", tt.desc)
			}
		}
		u.cleanup()
		if got := s.stagedMem.Load(); got != tt.spent {
			t.Errorf("%s: %d bytes of the budget in use after the request; want %d", tt.desc, got, tt.spent)
		}
		if path != "" {
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("%s: staging file left behind", tt.desc)
			}
		}
	}
}
