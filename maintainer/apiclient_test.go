package maintainer

import (
	"bytes"
	"io"
	"mime/multipart"
	"testing"

	"hallmark.dev/hallmark/api"
)

// TestBodyLengthIsWhatIsSent: the Content-Length announced before an upload
// is exactly the length of the body streamed after it, for any number and
// size of files (a wrong length fails the request in net/http).
func TestBodyLengthIsWhatIsSent(t *testing.T) {
	change := api.ChangeRequest{Project: "hello"}
	for _, sizes := range [][]int{nil, {0}, {1}, {5, 70000}, {3 << 20, 0, 17}} {
		var files []upFile
		for i, n := range sizes {
			data := bytes.Repeat([]byte{byte('a' + i)}, n)
			files = append(files, upFile{target: "hello/1.0/f" + string(rune('a'+i)), open: bytesOpener(data), length: int64(n)})
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		want, err := bodyLength(mw.Boundary(), change, files)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeBody(mw, change, files, 0, nil); err != nil {
			t.Fatal(err)
		}
		if int64(body.Len()) != want {
			t.Errorf("files of %v bytes: bodyLength = %d, the body is %d bytes", sizes, want, body.Len())
		}
		// And the body is a well-formed multipart form with every file.
		mr := multipart.NewReader(&body, mw.Boundary())
		parts := 0
		for {
			_, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			parts++
		}
		if parts != len(files)+1 {
			t.Errorf("files of %v bytes: %d parts, want %d", sizes, parts, len(files)+1)
		}
	}
}
