package layout

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSettingsRoundTrip(t *testing.T) {
	s := DefaultSettings()
	if err := s.Check(); err != nil {
		t.Fatalf("default settings do not check: %v", err)
	}
	for _, kv := range [][2]string{
		{"expiry.timestamp.valid", "12h"}, {"expiry.timestamp.signing", "8h"},
		{"max-file-size", "10MiB"}, {"max-release-size", "1GiB"},
		{"registration", "token"}, {"reserved+", "Evil_Corp"}, {"reserved+", "acme"},
		{"allow-confusable+", "He11o_World"}, {"allow-confusable+", "a1"},
	} {
		if err := s.Set(kv[0], kv[1]); err != nil {
			t.Fatalf("Set(%s, %s): %v", kv[0], kv[1], err)
		}
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSettings(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Expiry.Timestamp != (Expiry{Valid: 12 * time.Hour, Signing: 8 * time.Hour}) || got.MaxFileSize != 10<<20 ||
		got.MaxReleaseSize != 1<<30 || got.Registration != RegistrationToken || strings.Join(got.Reserved, ",") != "acme,evil-corp" {
		t.Fatalf("round trip = %+v", got)
	}
	if !got.IsReserved("evil-corp") || got.IsReserved("evil") {
		t.Fatal("IsReserved is wrong")
	}
	if err := got.Set("reserved-", "ACME"); err != nil || got.IsReserved("acme") {
		t.Fatalf("reserved- did not release acme: %v", err)
	}
	if !got.AllowsConfusable("he11o-world") || !got.AllowsConfusable("a1") || got.AllowsConfusable("hello-world") {
		t.Fatalf("allowed confusable names after a round trip: %q", got.AllowConfusable)
	}
	if err := got.Set("allow-confusable-", "a1"); err != nil || got.AllowsConfusable("a1") {
		t.Fatalf("allow-confusable- did not remove a1: %v", err)
	}
	// Settings that allow no look-alike keep the form earlier tools signed.
	if b, _ := json.Marshal(DefaultSettings()); strings.Contains(string(b), "allow_confusable") {
		t.Fatalf("default settings mention allow_confusable: %s", b)
	}
}

func TestSettingsRefuseNonsense(t *testing.T) {
	tests := []struct {
		desc, key, value, want string
	}{
		{"unknown key", "colour", "blue", "unknown setting"},
		{"unknown role", "expiry.banana.valid", "1h", "unknown setting"},
		{"not a duration", "expiry.root.valid", "a year", "not a duration"},
		{"signing longer than validity", "expiry.timestamp.signing", "48h", "longer than its signing period"},
		{"validity under an hour", "expiry.timestamp.valid", "30m", "at least 1h"},
		{"timestamp outlives snapshot", "expiry.timestamp.valid", "200h", "outlive"},
		{"negative size", "max-file-size", "-1", "positive size"},
		{"file over release", "max-file-size", "8GiB", "max_release_size at least max_file_size"},
		{"bad registration", "registration", "sometimes", "registration must be"},
		{"bad reserved name", "reserved+", "../x", "not valid"},
		{"bad allowed look-alike", "allow-confusable+", "../x", "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := DefaultSettings()
			err := s.Set(tt.key, tt.value)
			if err == nil {
				err = s.Check()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Set(%s, %s) then Check = %v; want an error containing %q", tt.key, tt.value, err, tt.want)
			}
		})
	}
	for _, bad := range []string{
		`{}`,
		`{"expiry":{},"max_file_size":1,"max_release_size":1,"registration":"open","reserved":[]}`,
		`{"expiry":{"root":{"valid":"1h","signing":"1m"}},"extra":1}`,
	} {
		if _, err := ParseSettings([]byte(bad)); err == nil {
			t.Errorf("ParseSettings(%s) succeeded", bad)
		}
	}
}
