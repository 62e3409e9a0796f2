package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/layout"
	"hallmark.dev/hallmark/tufmeta"
)

// Project is a project's state as verified through TUF.
type Project struct {
	Name  string
	Shard string
	// Claimed is true when the project is delegated by the offline claimed
	// bin, false when by the online new-projects bin.
	Claimed bool
	// Owners is the bin's delegation to the owners role.
	Owners tufmeta.Delegation
	// OwnersRole and ReleasesRole are the verified project roles.
	OwnersRole   *tufmeta.Targets
	ReleasesRole *tufmeta.Targets
	// Index is the verified project index.
	Index *layout.Index
	// IndexBytes is the index as published.
	IndexBytes []byte
	// Settings are the repository settings the admins signed into the
	// shard's targets.
	Settings layout.Settings

	up *shardUpdater
}

// ErrProjectNotFound is returned when the verified metadata has no such project.
var ErrProjectNotFound = errors.New("project not found")

// Project refreshes the project's shard and returns the project's verified
// state, its index included.
func (c *Client) Project(ctx context.Context, name string) (*Project, error) {
	project, err := layout.ParseProjectName(name)
	if err != nil {
		return nil, err
	}
	shard := layout.ShardOf(project, c.trust.Shards)
	up, err := c.refresh(ctx, shard)
	if err != nil {
		return nil, err
	}
	tf, err := up.up.GetTargetInfo(layout.IndexPath(project))
	if err != nil {
		if strings.Contains(err.Error(), "not found") && !isVerification(err) && !isNetwork(err) {
			return nil, fmt.Errorf("%w: %s", ErrProjectNotFound, project)
		}
		return nil, explain(shard, err)
	}
	if err := up.checkIdentity(c.trust.Shards); err != nil {
		return nil, err
	}
	p := &Project{Name: project, Shard: shard, up: up}
	tm := up.up.GetTrustedMetadataSet()
	if p.Settings, err = tufmeta.SettingsOf(tm.Targets[layout.RoleTargets]); err != nil {
		return nil, &VerificationError{Shard: shard, Err: err}
	}
	p.OwnersRole = tm.Targets[layout.OwnersRole(project)]
	p.ReleasesRole = tm.Targets[layout.ReleasesRole(project)]
	if p.OwnersRole == nil || p.ReleasesRole == nil {
		return nil, &VerificationError{Shard: shard, Err: fmt.Errorf("project %s: the index is not signed by the project's releases role", project)}
	}
	if claimed := tm.Targets[layout.ClaimedRole(shard)]; claimed != nil {
		if d, _, err := tufmeta.TargetsDelegation(claimed, layout.OwnersRole(project)); err == nil {
			p.Claimed, p.Owners = true, d
		}
	}
	if !p.Claimed {
		bin := tm.Targets[layout.NewRole(shard)]
		if bin == nil {
			return nil, &VerificationError{Shard: shard, Err: fmt.Errorf("project %s is delegated by neither bin", project)}
		}
		if p.Owners, _, err = tufmeta.TargetsDelegation(bin, layout.OwnersRole(project)); err != nil {
			return nil, &VerificationError{Shard: shard, Err: err}
		}
	}
	_, data, err := up.up.DownloadTarget(tf, filepath.Join(c.shardDir(shard), "targets", project+".index.json"), "")
	if err != nil {
		return nil, explainTarget(shard, layout.IndexPath(project), err)
	}
	if p.Index, err = layout.ParseIndex(data); err != nil {
		return nil, &VerificationError{Shard: shard, Err: fmt.Errorf("the signed index of %s is malformed: %w", project, err)}
	}
	if p.Index.Project != project {
		return nil, &VerificationError{Shard: shard, Err: fmt.Errorf("the signed index of %s names project %s", project, p.Index.Project)}
	}
	p.IndexBytes = data
	return p, nil
}

// isNetwork reports whether err is a failure to get an answer (not a
// verification failure).
func isNetwork(err error) bool {
	var ne *NetworkError
	var dl *metadata.ErrDownloadHTTP
	return errors.As(err, &ne) || errors.As(err, &dl)
}

func isVerification(err error) bool {
	var ue *metadata.ErrUnsignedMetadata
	var re *metadata.ErrRepository
	var ee *metadata.ErrExpiredMetadata
	var be *metadata.ErrBadVersionNumber
	var le *metadata.ErrLengthOrHashMismatch
	return errors.As(err, &ue) || errors.As(err, &re) || errors.As(err, &ee) || errors.As(err, &be) || errors.As(err, &le)
}

func explainTarget(shard, path string, err error) error {
	var lh *metadata.ErrLengthOrHashMismatch
	var dl *metadata.ErrDownloadLengthMismatch
	if errors.As(err, &lh) || errors.As(err, &dl) {
		return &VerificationError{Shard: shard, Err: fmt.Errorf("%s does not match its signed hash and length: the file was tampered with", path)}
	}
	return fmt.Errorf("failed to download %s: %w", path, err)
}

// errStalled is why a download that stopped receiving data was abandoned.
var errStalled = stalledError{}

type stalledError struct{}

func (stalledError) Error() string { return "no data received for too long" }
func (stalledError) Timeout() bool { return true }

// Progress reports download progress: bytes so far of total.
type Progress func(done, total int64)

// Download fetches one verified release file of the project into dest (a
// file path), checking its length and sha256 against the signed metadata
// before it is moved into place. Nothing is left at dest on failure.
func (c *Client) Download(ctx context.Context, p *Project, version, file, dest string, progress Progress) error {
	path := layout.FilePath(p.Name, version, file)
	tf, err := p.up.up.GetTargetInfo(path)
	if err != nil {
		if isVerification(err) || isNetwork(err) {
			return explain(p.Shard, err)
		}
		return fmt.Errorf("%s is not a signed file of %s %s", file, p.Name, version)
	}
	want := hex.EncodeToString(tf.Hashes["sha256"])
	if want == "" {
		return &VerificationError{Shard: p.Shard, Err: fmt.Errorf("%s has no sha256 hash", path)}
	}
	u := TargetsURL(c.repo) + layout.TargetBlobPath(path, want)
	// A download that receives nothing for the timeout is abandoned (the
	// transport only bounds the wait for the answer to start).
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(c.timeout, func() { cancel(errStalled) })
	defer stall.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errStalled) {
			err = errStalled
		}
		return fmt.Errorf("failed to download %s: %w", path, &NetworkError{URL: u, Err: err})
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusGone {
		return fmt.Errorf("%w: %s", ErrBlocked, p.Name)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("failed to download %s: %w", path, &NetworkError{URL: u, Status: resp.StatusCode})
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".hallmark-download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	// Read at most one byte more than signed: a longer body is an attack.
	body := io.LimitReader(resp.Body, tf.Length+1)
	w := io.MultiWriter(tmp, h)
	var n int64
	buf := make([]byte, 256<<10)
	for {
		k, rerr := body.Read(buf)
		stall.Reset(c.timeout)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				tmp.Close()
				return err
			}
			n += int64(k)
			if progress != nil {
				progress(min(n, tf.Length), tf.Length)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			tmp.Close()
			if errors.Is(context.Cause(ctx), errStalled) {
				rerr = errStalled
			}
			return fmt.Errorf("failed to download %s: %w", path, &NetworkError{URL: u, Err: rerr})
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if n != tf.Length || hex.EncodeToString(h.Sum(nil)) != want {
		return &VerificationError{Shard: p.Shard, Err: fmt.Errorf("%s does not match its signed hash and length: the file was tampered with; nothing was saved", path)}
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

// LocalMatches reports whether the file at path exists with exactly the
// given length and sha256 (hex): a file a download may leave alone. It
// returns false and no error when there is no file at path.
func LocalMatches(path string, length int64, sha256hex string) (exists, same bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return true, false, err
	}
	return true, n == length && hex.EncodeToString(h.Sum(nil)) == sha256hex, nil
}
