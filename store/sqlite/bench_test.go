package sqlite_test

import (
	"testing"

	"hallmark.dev/hallmark/store/storetest"
)

func BenchmarkCommit(b *testing.B) { storetest.BenchmarkCommit(b, backend) }
