package secret_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lapsehq/lapse/app/secret"
)

func mustBox(t *testing.T, keys ...string) *secret.Box {
	t.Helper()
	var raw [][]byte
	for _, k := range keys {
		ks, err := secret.ParseKeys(k)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, ks...)
	}
	b, err := secret.NewBox(raw...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBox_RoundTrip(t *testing.T) {
	t.Parallel()
	k, _ := secret.NewKey()
	b := mustBox(t, k)
	ct, err := b.Seal([]byte("shared-secret"), "tenant:1:shared_secret")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("shared-secret")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	pt, err := b.Open(ct, "tenant:1:shared_secret")
	if err != nil || string(pt) != "shared-secret" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
}

func TestBox_BindingIsEnforced(t *testing.T) {
	t.Parallel()
	k, _ := secret.NewKey()
	b := mustBox(t, k)
	ct, _ := b.Seal([]byte("s"), "tenant:1:shared_secret")
	if _, err := b.Open(ct, "tenant:2:shared_secret"); !errors.Is(err, secret.ErrDecrypt) {
		t.Fatalf("Open with another binding: err = %v, want ErrDecrypt", err)
	}
}

func TestBox_TamperDetected(t *testing.T) {
	t.Parallel()
	k, _ := secret.NewKey()
	b := mustBox(t, k)
	ct, _ := b.Seal([]byte("secret"), "x")
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := b.Open(bad, "x"); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
	}
}

func TestBox_Rotation(t *testing.T) {
	t.Parallel()
	oldKey, _ := secret.NewKey()
	newKey, _ := secret.NewKey()
	oldBox := mustBox(t, oldKey)
	ct, _ := oldBox.Seal([]byte("v"), "b")

	rotated := mustBox(t, newKey+","+oldKey)
	if pt, err := rotated.Open(ct, "b"); err != nil || string(pt) != "v" {
		t.Fatalf("rotated box cannot open old ciphertext: %q %v", pt, err)
	}
	fresh, _ := rotated.Seal([]byte("v"), "b")
	if _, err := oldBox.Open(fresh, "b"); err == nil {
		t.Fatal("new ciphertext should be sealed with the new key")
	}
}

func TestBox_EmptyIsNil(t *testing.T) {
	t.Parallel()
	k, _ := secret.NewKey()
	b := mustBox(t, k)
	ct, err := b.Seal(nil, "b")
	if err != nil || ct != nil {
		t.Fatalf("Seal(nil) = %v, %v", ct, err)
	}
	pt, err := b.Open(nil, "b")
	if err != nil || pt != nil {
		t.Fatalf("Open(nil) = %v, %v", pt, err)
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		wantN   int
		wantErr bool
	}{
		{"one_std", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1, false},
		{"raw_url", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1, false},
		{"two", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=, AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 2, false},
		{"short", "AAAA", 0, true},
		{"not_base64", "!!!", 0, true},
		{"empty", " , ", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			keys, err := secret.ParseKeys(tc.in)
			if (err != nil) != tc.wantErr || len(keys) != tc.wantN {
				t.Fatalf("ParseKeys(%q) = %d keys, err %v", tc.in, len(keys), err)
			}
		})
	}
}
