package tufview_test

import (
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/tufview"
)

// FuzzParse: the viewer reads metadata of any repository (a directory or a
// URL someone hands it); any bytes either are refused with an error or give
// a file whose page can be built.
func FuzzParse(f *testing.F) {
	expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, md := range []interface{ ToBytes(bool) ([]byte, error) }{
		metadata.Root(expires), metadata.Targets(expires), metadata.Snapshot(expires), metadata.Timestamp(expires),
	} {
		b, err := md.ToBytes(false)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"signed":{"_type":"targets","delegations":{"keys":{},"roles":[{"name":"../x","keyids":[],"threshold":1,"paths":["*"]}]}},"signatures":[]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		file, err := tufview.Parse("targets", "1.targets.json", raw)
		if err != nil {
			return
		}
		file.Delegations(func(string) bool { return true })
		tufview.NewRoleView(file, nil, []string{"root"}, nil, tufview.Options{Now: expires})
	})
}
