package maintainer

import (
	"bytes"
	"encoding/json"
	"fmt"

	"hallmark.dev/hallmark/layout"
)

// MetaUpdate changes some of what a project says about itself: each field
// that is set replaces the published one (an empty string removes it);
// fields left nil keep theirs.
type MetaUpdate struct {
	Description *string `json:"description,omitempty"`
	Readme      *string `json:"readme,omitempty"`
	Homepage    *string `json:"homepage,omitempty"`
	Repository  *string `json:"repository,omitempty"`
	License     *string `json:"license,omitempty"`
}

// ParseMetaFile reads a project-details file: a JSON object with any of
// the fields description, readme, homepage, repository and license.
func ParseMetaFile(data []byte) (*MetaUpdate, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m MetaUpdate
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("the project details file must be a JSON object with any of description, readme, homepage, repository, license: %w", err)
	}
	return &m, nil
}

// Merge sets in m every field other sets.
func (m *MetaUpdate) Merge(other *MetaUpdate) {
	for _, f := range []struct{ dst, src **string }{
		{&m.Description, &other.Description}, {&m.Readme, &other.Readme}, {&m.Homepage, &other.Homepage},
		{&m.Repository, &other.Repository}, {&m.License, &other.License},
	} {
		if *f.src != nil {
			*f.dst = *f.src
		}
	}
}

// apply returns old with the update applied; nil when nothing is left.
func (m *MetaUpdate) apply(old *layout.ProjectMeta) *layout.ProjectMeta {
	next := metaOrZero(old)
	for _, f := range []struct {
		src *string
		dst *string
	}{
		{m.Description, &next.Description}, {m.Readme, &next.Readme}, {m.Homepage, &next.Homepage},
		{m.Repository, &next.Repository}, {m.License, &next.License},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if next.IsZero() {
		return nil
	}
	return &next
}

func metaOrZero(m *layout.ProjectMeta) layout.ProjectMeta {
	if m == nil {
		return layout.ProjectMeta{}
	}
	return *m
}
