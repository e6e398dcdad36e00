package web

import (
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/descriptor"
)

// forgeManifest is the part of manifest.yml that binds Forge modules to
// Lapse's fixed routes.
type forgeManifest struct {
	Modules struct {
		Endpoint []struct {
			Key   string `yaml:"key"`
			Route struct {
				Path string `yaml:"path"`
			} `yaml:"route"`
		} `yaml:"endpoint"`
		Trigger []struct {
			Key      string `yaml:"key"`
			Endpoint string `yaml:"endpoint"`
		} `yaml:"trigger"`
		ScheduledTrigger []struct {
			Key      string `yaml:"key"`
			Endpoint string `yaml:"endpoint"`
		} `yaml:"scheduledTrigger"`
	} `yaml:"modules"`
}

// TestForgeRoutes_MatchManifest: the module keys each Forge route admits are
// exactly the manifest's endpoint for that route and the triggers that
// invoke it, so renaming a module in manifest.yml cannot silently make the
// route refuse Atlassian's own invocations (or admit another module).
func TestForgeRoutes_MatchManifest(t *testing.T) {
	raw, err := descriptor.FS.ReadFile("manifest.yml")
	if err != nil {
		t.Fatal(err)
	}
	var m forgeManifest
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for path, route := range map[string]forgeRoute{"/forge/events": forgeEventsRoute, "/forge/scheduled": forgeScheduledRoute} {
		var want []string
		for _, e := range m.Modules.Endpoint {
			if e.Route.Path != path {
				continue
			}
			want = append(want, e.Key)
			for _, tr := range m.Modules.Trigger {
				if tr.Endpoint == e.Key {
					want = append(want, tr.Key)
				}
			}
			for _, tr := range m.Modules.ScheduledTrigger {
				if tr.Endpoint == e.Key {
					want = append(want, tr.Key)
				}
			}
		}
		if len(want) < 2 {
			t.Fatalf("%s: manifest has no endpoint and trigger for it (found %v)", path, want)
		}
		if len(want) != len(route.modules) {
			t.Fatalf("%s admits %v, manifest binds %v", path, route.modules, want)
		}
		for _, k := range want {
			if err := route.admit(invocationFrom(k)); err != nil {
				t.Errorf("%s refuses its manifest module %q: %v", path, k, err)
			}
		}
	}
}

func invocationFrom(moduleKey string) *forge.Invocation {
	return &forge.Invocation{App: forge.App{Module: forge.Module{Type: "core:endpoint", Key: moduleKey}}}
}
