package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"hallmark.dev/hallmark/publish"
	"hallmark.dev/hallmark/store"
	"hallmark.dev/hallmark/tufmeta"
	"hallmark.dev/hallmark/validation"
)

// The forms in which a forwarded change and its result cross the
// database. Signed roles travel as their canonical encoding and are
// decoded (and validated, by the publisher) again on the other side; files
// travel through the blob store, under pending/ (never served).

type fwdRequest struct {
	Change  *fwdChange  `json:"change,omitempty"`
	Offline *fwdOffline `json:"offline,omitempty"`
}

type fwdDelegation struct {
	Keys      map[string]*metadata.Key `json:"keys"`
	KeyIDs    []string                 `json:"keyids"`
	Threshold int                      `json:"threshold"`
}

type fwdFile struct {
	SHA256 string `json:"sha256"`
	Length int64  `json:"length"`
	Blob   string `json:"blob"`
}

type fwdChange struct {
	Project      string             `json:"project"`
	Create       bool               `json:"create,omitempty"`
	Display      string             `json:"display,omitempty"`
	Owners       fwdDelegation      `json:"owners"`
	OwnersRole   json.RawMessage    `json:"owners_role,omitempty"`
	ReleasesRole json.RawMessage    `json:"releases_role,omitempty"`
	Files        map[string]fwdFile `json:"files,omitempty"`
	Index        []byte             `json:"index,omitempty"`
}

type fwdOffline struct {
	Shard   string                   `json:"shard"`
	Root    json.RawMessage          `json:"root,omitempty"`
	Targets json.RawMessage          `json:"targets,omitempty"`
	Claimed json.RawMessage          `json:"claimed,omitempty"`
	Claims  map[string]fwdDelegation `json:"claims,omitempty"`
}

func (r *fwdRequest) files() []fwdFile {
	if r.Change == nil {
		return nil
	}
	return slices.Collect(maps.Values(r.Change.Files))
}

func toFwd(d tufmeta.Delegation) fwdDelegation {
	return fwdDelegation{Keys: d.Keys, KeyIDs: d.KeyIDs, Threshold: d.Threshold}
}

func (d fwdDelegation) delegation() tufmeta.Delegation {
	return tufmeta.Delegation{Keys: d.Keys, KeyIDs: d.KeyIDs, Threshold: d.Threshold}
}

// encodeRole encodes a signed role, nil as nothing.
func encodeRole[T metadata.Roles](md *metadata.Metadata[T]) (json.RawMessage, error) {
	if md == nil {
		return nil, nil
	}
	return tufmeta.Encode(md)
}

// decodeRole decodes a role encodeRole encoded.
func decodeRole[T metadata.Roles](raw json.RawMessage) (*metadata.Metadata[T], error) {
	if len(raw) == 0 {
		return nil, nil
	}
	return tufmeta.Decode[T](raw)
}

// encodeRequest encodes a forwarded change, storing its files in the blob
// store; it returns the blobs it stored, which the caller deletes once the
// change is answered.
func (rt *router) encodeRequest(ctx context.Context, f publish.Forwarded) ([]byte, []string, error) {
	var req fwdRequest
	var blobs []string
	var err error
	if c := f.Change; c != nil {
		fc := &fwdChange{Project: c.Project, Create: c.Create, Display: c.Display, Owners: toFwd(c.Owners), Index: c.Index,
			Files: map[string]fwdFile{}}
		if fc.OwnersRole, err = encodeRole(c.OwnersRole); err != nil {
			return nil, nil, err
		}
		if fc.ReleasesRole, err = encodeRole(c.ReleasesRole); err != nil {
			return nil, nil, err
		}
		var rnd [12]byte
		rand.Read(rnd[:])
		id := "fwd-" + hex.EncodeToString(rnd[:])
		for path, st := range c.Files {
			blob := store.PendingBlobPath(id, st.SHA256)
			if !slices.Contains(blobs, blob) {
				if err := putStaged(ctx, rt.blobs, blob, st); err != nil {
					return nil, blobs, err
				}
				blobs = append(blobs, blob)
			}
			fc.Files[path] = fwdFile{SHA256: st.SHA256, Length: st.Length, Blob: blob}
		}
		req.Change = fc
	}
	if o := f.Offline; o != nil {
		fo := &fwdOffline{Shard: o.Shard, Claims: map[string]fwdDelegation{}}
		if fo.Root, err = encodeRole(o.Root); err != nil {
			return nil, nil, err
		}
		if fo.Targets, err = encodeRole(o.Targets); err != nil {
			return nil, nil, err
		}
		if fo.Claimed, err = encodeRole(o.Claimed); err != nil {
			return nil, nil, err
		}
		for p, d := range o.Claims {
			fo.Claims[p] = toFwd(d)
		}
		req.Offline = fo
	}
	data, err := json.Marshal(req)
	return data, blobs, err
}

func putStaged(ctx context.Context, blobs store.Blobs, path string, st publish.Staged) error {
	r, err := st.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	return blobs.Put(ctx, path, r)
}

// decodeRequest decodes a forwarded change; its files are read from the
// blob store when the publisher stores them.
func (rt *router) decodeRequest(data []byte) (publish.Forwarded, error) {
	var req fwdRequest
	if err := decodeJSON(data, &req); err != nil {
		return publish.Forwarded{}, err
	}
	var f publish.Forwarded
	var err error
	if fc := req.Change; fc != nil {
		c := &publish.Change{Project: fc.Project, Create: fc.Create, Display: fc.Display, Owners: fc.Owners.delegation(), Index: fc.Index,
			Files: map[string]publish.Staged{}}
		if c.OwnersRole, err = decodeRole[metadata.TargetsType](fc.OwnersRole); err != nil {
			return f, err
		}
		if c.ReleasesRole, err = decodeRole[metadata.TargetsType](fc.ReleasesRole); err != nil {
			return f, err
		}
		for path, ff := range fc.Files {
			blob := ff.Blob
			c.Files[path] = publish.Staged{SHA256: ff.SHA256, Length: ff.Length, Open: func() (io.ReadCloser, error) {
				return rt.blobs.Open(context.Background(), blob)
			}}
		}
		f.Change = c
	}
	if fo := req.Offline; fo != nil {
		o := &publish.Offline{Shard: fo.Shard}
		if o.Root, err = decodeRole[metadata.RootType](fo.Root); err != nil {
			return f, err
		}
		if o.Targets, err = decodeRole[metadata.TargetsType](fo.Targets); err != nil {
			return f, err
		}
		if o.Claimed, err = decodeRole[metadata.TargetsType](fo.Claimed); err != nil {
			return f, err
		}
		if len(fo.Claims) > 0 {
			o.Claims = map[string]tufmeta.Delegation{}
			for p, d := range fo.Claims {
				o.Claims[p] = d.delegation()
			}
		}
		f.Offline = o
	}
	if f.Change == nil && f.Offline == nil {
		return f, errors.New("the request holds no change")
	}
	return f, nil
}

func decodeJSON(data []byte, v any) error { return json.Unmarshal(data, v) }

// fwdResult is a publish.Result, or the error of a change that could not
// be processed, as the replica that accepted the change reads it back.
type fwdResult struct {
	Outcome         validation.Outcome `json:"outcome"`
	Kind            string             `json:"kind,omitempty"` // "conflict", "rejected", "error"
	Message         string             `json:"message,omitempty"`
	Code            string             `json:"code,omitempty"`
	Role            string             `json:"role,omitempty"`
	Proposed        int64              `json:"proposed,omitempty"`
	Current         int64              `json:"current,omitempty"`
	Sigs            tufmeta.SigCount   `json:"sigs"`
	Shard           string             `json:"shard,omitempty"`
	SnapshotVersion int64              `json:"snapshot_version,omitempty"`
	Waiting         string             `json:"waiting,omitempty"`
	Err             string             `json:"err,omitempty"`
}

func encodeResult(res publish.Result, err error) ([]byte, error) {
	out := fwdResult{Outcome: res.Outcome, Sigs: res.Sigs, Shard: res.Shard, SnapshotVersion: res.SnapshotVersion, Waiting: res.Waiting}
	if err != nil {
		out.Err = err.Error()
	}
	var conflict *validation.Conflict
	var rej *validation.Rejected
	switch {
	case res.Reason == nil:
	case errors.As(res.Reason, &conflict):
		out.Kind, out.Role, out.Proposed, out.Current = "conflict", conflict.Role, conflict.Proposed, conflict.Current
	case errors.As(res.Reason, &rej):
		out.Kind, out.Message, out.Code = "rejected", rej.Msg, rej.Code
	default:
		out.Kind, out.Message = "error", res.Reason.Error()
	}
	return json.Marshal(out)
}

func decodeResult(data []byte) (publish.Result, error) {
	var in fwdResult
	if err := json.Unmarshal(data, &in); err != nil {
		return publish.Result{}, err
	}
	res := publish.Result{Outcome: in.Outcome, Sigs: in.Sigs, Shard: in.Shard, SnapshotVersion: in.SnapshotVersion, Waiting: in.Waiting}
	switch in.Kind {
	case "conflict":
		res.Reason = &validation.Conflict{Role: in.Role, Proposed: in.Proposed, Current: in.Current}
	case "rejected":
		res.Reason = &validation.Rejected{Msg: in.Message, Code: in.Code}
	case "error":
		res.Reason = errors.New(in.Message)
	}
	if in.Err != "" {
		return res, errors.New(in.Err)
	}
	return res, nil
}
