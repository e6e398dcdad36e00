package forge_test

import (
	"testing"

	"github.com/lapsehq/lapse/app/forge"
)

func TestAppARI(t *testing.T) {
	t.Parallel()
	const id = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	cases := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "bare uuid", in: id, want: forge.AppARIPrefix + id},
		{name: "ari", in: forge.AppARIPrefix + id, want: forge.AppARIPrefix + id},
		{name: "surrounding space", in: "  " + id + "\n", want: forge.AppARIPrefix + id},
		{name: "upper-case hex kept", in: "3F2B1C4D-5E6F-4A7B-8C9D-0E1F2A3B4C5D", want: forge.AppARIPrefix + "3F2B1C4D-5E6F-4A7B-8C9D-0E1F2A3B4C5D"},
		{name: "empty", in: "", wantErr: true},
		{name: "prefix only", in: forge.AppARIPrefix, wantErr: true},
		{name: "installation ari", in: forge.InstallationARIPrefix + id, wantErr: true},
		{name: "not a uuid", in: "my-app", wantErr: true},
		{name: "uuid without dashes", in: "3f2b1c4d5e6f4a7b8c9d0e1f2a3b4c5d", wantErr: true},
		{name: "non-hex", in: "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5z", wantErr: true},
		{name: "trailing junk", in: forge.AppARIPrefix + id + "/x", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := forge.AppARI(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("AppARI(%q) err = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("AppARI(%q) (-want +got):\n- %q\n+ %q", tc.in, tc.want, got)
			}
		})
	}
}

func TestNormalizeInstallationID(t *testing.T) {
	t.Parallel()
	const id = "6f1e3c1a-2b4d-4e8f-9a0b-1c2d3e4f5a6b"
	cases := []struct {
		name string
		in   string
		want string
	}{
		{name: "bare", in: id, want: id},
		{name: "ari", in: forge.InstallationARIPrefix + id, want: id},
		{name: "space", in: " " + forge.InstallationARIPrefix + id + " ", want: id},
		{name: "empty", in: "", want: ""},
		{name: "other ari untouched", in: forge.AppARIPrefix + id, want: forge.AppARIPrefix + id},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := forge.NormalizeInstallationID(tc.in); got != tc.want {
				t.Fatalf("NormalizeInstallationID(%q) (-want +got):\n- %q\n+ %q", tc.in, tc.want, got)
			}
		})
	}
}
