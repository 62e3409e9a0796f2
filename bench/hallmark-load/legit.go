package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"hallmark.dev/hallmark/api"
	"hallmark.dev/hallmark/client"
	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/maintainer"
	"hallmark.dev/hallmark/signing"
	"hallmark.dev/hallmark/trust"
)

// legit holds the legitimate clients' shared state: the trust everyone
// pinned and the projects the uploaders own.
type legit struct {
	repo      string
	trustData []byte
	trust     *trust.File
	dir       string
	projects  []string
	uploaders []*uploader
}

type uploader struct {
	project string
	key     *signing.Key
	tool    *maintainer.Tool
	next    int // minor version of the next release
}

// newHTTP returns a client of its own (its own connections), as separate
// users have.
func newHTTP() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}}
}

// openClient pins the repository in a new home and opens a client there.
func (l *legit) openClient(name string) (*client.Client, error) {
	o := client.Options{Repo: l.repo, Home: filepath.Join(l.dir, name), HTTP: newHTTP()}
	if err := client.Pin(o, l.trustData); err != nil {
		return nil, err
	}
	return client.Open(o)
}

// setUp pins the repository, and has every uploader create its project
// with a first release, so downloaders have something to get from the
// start.
func setUp(ctx context.Context, repo string, o *options, st *stats) (*legit, error) {
	tf, data, err := client.FetchTrust(ctx, client.Options{Repo: repo})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hallmark-load-clients-")
	if err != nil {
		return nil, err
	}
	l := &legit{repo: repo, trustData: data, trust: tf, dir: dir}
	for i := range o.uploaders {
		u := &uploader{project: fmt.Sprintf("load-%d-%d", time.Now().Unix()%100000, i)}
		if u.key, err = signing.Generate(u.project); err != nil {
			return nil, err
		}
		cl, err := l.openClient(fmt.Sprintf("uploader-%d", i))
		if err != nil {
			return nil, err
		}
		u.tool = &maintainer.Tool{Client: cl, HTTP: newHTTP()}
		start := time.Now()
		_, err = u.tool.CreateProject(ctx, u.project, u.key)
		st.creates.done(start, err)
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", u.project, err)
		}
		if err := u.upload(ctx, l.dir); err != nil {
			return nil, fmt.Errorf("first release of %s: %w", u.project, err)
		}
		l.uploaders = append(l.uploaders, u)
		l.projects = append(l.projects, u.project)
	}
	return l, nil
}

// upload publishes the uploader's next release (one small file).
func (u *uploader) upload(ctx context.Context, dir string) error {
	version := fmt.Sprintf("1.%d.0", u.next)
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.tar.gz", u.project, version))
	body := fmt.Appendf(nil, "%s %s %d\n", u.project, version, rand.Int64())
	if err := os.WriteFile(path, append(body, make([]byte, 1024)...), 0o644); err != nil {
		return err
	}
	defer os.Remove(path)
	plan, err := u.tool.PlanRelease(ctx, u.project, version, []string{path})
	if err != nil {
		return err
	}
	out, err := u.tool.Submit(ctx, plan, u.key, nil)
	if err != nil {
		return err
	}
	if out.Status != api.StatusPublished {
		return fmt.Errorf("release %s of %s is %s, not published", version, u.project, out.Status)
	}
	u.next++
	return nil
}

// start runs the uploaders and downloaders until ctx ends.
func (l *legit) start(ctx context.Context, wg *sync.WaitGroup, o *options, st *stats) {
	for _, u := range l.uploaders {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				err := u.upload(ctx, l.dir)
				if ctx.Err() != nil && err != nil {
					return // cut off by the end of the run
				}
				st.uploads.done(start, err)
			}
		})
	}
	for i := range o.downloaders {
		wg.Go(func() {
			get := l.hallmarkGetter(i)
			c := &st.hallmarkGets
			if i%2 == 1 {
				get, c = l.tufGetter(i), &st.tufGets
			}
			for ctx.Err() == nil {
				project := l.projects[rand.IntN(len(l.projects))]
				start := time.Now()
				err := get(ctx, project)
				if ctx.Err() != nil && err != nil {
					return
				}
				c.done(start, err)
				time.Sleep(50 * time.Millisecond) // a user, not a flood
			}
		})
	}
}

type getter func(ctx context.Context, project string) error

// hallmarkGetter downloads a project's latest release with Hallmark's
// client library, keeping its verified metadata between downloads (a warm
// client).
func (l *legit) hallmarkGetter(i int) getter {
	name := fmt.Sprintf("downloader-%d", i)
	cl, err := l.openClient(name)
	return func(ctx context.Context, project string) error {
		if err != nil {
			return err
		}
		p, err := cl.Project(ctx, project)
		if err != nil {
			return err
		}
		r, err := p.Index.Latest()
		if err != nil {
			return err
		}
		f := r.Files[0]
		dest := filepath.Join(l.dir, name, "dl", f.Name)
		defer os.Remove(dest)
		return cl.Download(ctx, p, r.Version, f.Name, dest, nil)
	}
}

// tufGetter downloads a project's index and its latest release's file
// with go-tuf's updater, starting from the shard's root checked against
// the pinned trust file, and keeping its metadata between downloads.
func (l *legit) tufGetter(i int) getter {
	hc := newHTTP()
	return func(ctx context.Context, project string) error {
		shard := layout.ShardOf(project, l.trust.Shards)
		dir := filepath.Join(l.dir, fmt.Sprintf("gotuf-%d", i), shard)
		cfg, err := l.tufConfig(ctx, hc, shard, dir)
		if err != nil {
			return err
		}
		up, err := updater.New(cfg)
		if err != nil {
			return err
		}
		if err := up.Refresh(); err != nil {
			return err
		}
		ti, err := up.GetTargetInfo(layout.IndexPath(project))
		if err != nil {
			return err
		}
		_, data, err := up.DownloadTarget(ti, filepath.Join(dir, "index.json"), "")
		if err != nil {
			return err
		}
		ix, err := layout.ParseIndex(data)
		if err != nil {
			return err
		}
		r, err := ix.Latest()
		if err != nil {
			return err
		}
		if len(r.Files) == 0 {
			return errors.New("latest release has no file")
		}
		ti, err = up.GetTargetInfo(layout.FilePath(project, r.Version, r.Files[0].Name))
		if err != nil {
			return err
		}
		_, _, err = up.DownloadTarget(ti, filepath.Join(dir, "file"), "")
		return err
	}
}

func (l *legit) tufConfig(ctx context.Context, hc *http.Client, shard, dir string) (*config.UpdaterConfig, error) {
	root, err := os.ReadFile(filepath.Join(dir, "metadata", "root.json"))
	if err != nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, client.MetadataURL(l.repo, shard)+"1.root.json", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if root, err = readAll(resp); err != nil {
			return nil, err
		}
		if _, err := l.trust.CheckShardRoot(shard, root); err != nil {
			return nil, err
		}
	}
	cfg, err := config.New(client.MetadataURL(l.repo, shard), root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = filepath.Join(dir, "metadata")
	cfg.LocalTargetsDir = filepath.Join(dir, "targets")
	cfg.RemoteTargetsURL = client.TargetsURL(l.repo)
	cfg.PrefixTargetsWithHash = true
	return cfg, cfg.EnsurePathsExist()
}
