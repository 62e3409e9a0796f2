package layout_test

import (
	"testing"
	"time"

	"hallmark.dev/hallmark/layout"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func TestPolicyForEachKindOfRole(t *testing.T) {
	pol := layout.DefaultPolicy()
	tests := []struct {
		role  string
		valid time.Duration
	}{
		{"root", 365 * day},
		{"targets", 365 * day},
		{layout.ClaimedRole("0"), 90 * day},
		{layout.NewRole("0"), 7 * day},
		{"snapshot", 7 * day},
		{"timestamp", day},
		{layout.OwnersRole("demo"), 365 * day},
		{layout.ReleasesRole("demo"), 365 * day},
	}
	for _, tt := range tests {
		if got := pol.For(tt.role).Valid; got != tt.valid {
			t.Errorf("For(%s).Valid = %v; want %v", tt.role, got, tt.valid)
		}
		exp := pol.ExpiresAt(tt.role, now.Add(123456789))
		if exp.Location() != time.UTC || exp.Nanosecond() != 0 {
			t.Errorf("ExpiresAt(%s) = %v; want whole seconds in UTC", tt.role, exp)
		}
		if err := pol.CheckExpiry(tt.role, exp, now); err != nil {
			t.Errorf("CheckExpiry refuses the expiry ExpiresAt gives for %s: %v", tt.role, err)
		}
	}
}

func TestCheckExpiry(t *testing.T) {
	pol := layout.DefaultPolicy()
	tests := []struct {
		desc    string
		role    string
		expires time.Time
		ok      bool
	}{
		{"a year for a project role", "demo.releases", now.Add(365 * day), true},
		{"signer's clock a little ahead", "demo.releases", now.Add(365*day + 30*time.Minute), true},
		{"far future project role", "demo.releases", now.Add(2 * 365 * day), false},
		{"already expired", "demo.releases", now.Add(-time.Second), false},
		{"expires right now", "demo.releases", now, false},
		{"a week for the new bin", layout.NewRole("0"), now.Add(7 * day), true},
		{"a year for the new bin", layout.NewRole("0"), now.Add(365 * day), false},
		{"a month for a timestamp", "timestamp", now.Add(30 * day), false},
		{"a day for a timestamp", "timestamp", now.Add(day), true},
	}
	for _, tt := range tests {
		err := pol.CheckExpiry(tt.role, tt.expires, now)
		if (err == nil) != tt.ok {
			t.Errorf("%s: CheckExpiry = %v; want ok=%v", tt.desc, err, tt.ok)
		}
	}
}

func TestNeedsRenewalInsideTheSigningPeriod(t *testing.T) {
	pol := layout.DefaultPolicy()
	exp := now.Add(day) // a timestamp signed now
	tests := []struct {
		at   time.Time
		want bool
	}{
		{now, false},
		{now.Add(3 * time.Hour), false},
		{now.Add(4 * time.Hour), true}, // 20 h before expiry
		{now.Add(23 * time.Hour), true},
		{now.Add(2 * day), true},
	}
	for _, tt := range tests {
		if got := pol.NeedsRenewal("timestamp", exp, tt.at); got != tt.want {
			t.Errorf("NeedsRenewal(timestamp) at +%v = %v; want %v", tt.at.Sub(now), got, tt.want)
		}
	}
}
