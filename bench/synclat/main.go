// Command synclat measures how fast this machine's file system makes small
// files durable the way a blob store writes them: create a temporary file,
// write 4 KiB, fsync, rename into place. It runs the same count of files with
// 1 writer and with W concurrent writers (concurrent fsyncs share the
// journal's commits), and prints the latency of one file and files per
// second. It is the synced-write ceiling bench/ceiling.sh reports beside a
// publishing benchmark.
//
//	go run ./bench/synclat -dir /var/tmp/x -n 2000 -writers 1,64
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory on the file system to measure")
	n := flag.Int("n", 2000, "files per run")
	writers := flag.String("writers", "1,64", "concurrent writers, one run each")
	flag.Parse()
	tmp, err := os.MkdirTemp(*dir, ".synclat-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	data := make([]byte, 4096)
	for _, w := range strings.Split(*writers, ",") {
		k, err := strconv.Atoi(w)
		if err != nil || k < 1 {
			log.Fatalf("bad -writers %q", w)
		}
		d := run(filepath.Join(tmp, w), data, *n, k)
		fmt.Printf("writers %d: %d files of 4 KiB created, written, fsynced, renamed in %v: %.0f files/s, %.0f us per file per writer\n",
			k, *n, d.Round(time.Millisecond), float64(*n)/d.Seconds(), d.Seconds()*1e6*float64(k)/float64(*n))
	}
}

func run(dir string, data []byte, n, writers int) time.Duration {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				name := filepath.Join(dir, strconv.FormatInt(i, 10))
				f, err := os.OpenFile(name+".tmp", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					log.Fatal(err)
				}
				if _, err := f.Write(data); err != nil {
					log.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					log.Fatal(err)
				}
				if err := f.Close(); err != nil {
					log.Fatal(err)
				}
				if err := os.Rename(name+".tmp", name); err != nil {
					log.Fatal(err)
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}
