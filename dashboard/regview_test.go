package dashboard

import (
	"slices"
	"testing"
	"time"

	"github.com/sonla-ioc/ioc/internal/registry"
)

// What replacing the registry changes, one replacement after another.
func TestRegistryView(t *testing.T) {
	dev := func(id, partner, name string) *registry.Device {
		return &registry.Device{ID: id, Partner: partner, Type: "water_level", Name: name, Interval: 5 * time.Minute}
	}
	v := newRegistryView()
	if v.registryVersion() != "" || v.len() != 0 {
		t.Fatal("a new view holds a registry")
	}
	for _, tc := range []struct {
		name    string
		devs    []*registry.Device
		version string
		ok      bool
		want    regDiff
		n       int
	}{
		{"first registry", []*registry.Device{dev("b", "vnpt", "B"), dev("a", "viettel", "A")}, "v1", true,
			regDiff{Set: []string{"a", "b"}}, 2},
		{"the same version again", []*registry.Device{dev("c", "vnpt", "C")}, "v1", false, regDiff{}, 2},
		{"one renamed, one gone, one new", []*registry.Device{dev("a", "viettel", "A2"), dev("c", "vnpt", "C")}, "v2", true,
			regDiff{Set: []string{"a", "c"}, Removed: []string{"b"}}, 2},
		{"unchanged entries under a new version", []*registry.Device{dev("a", "viettel", "A2"), dev("c", "vnpt", "C")}, "v3", true,
			regDiff{}, 2},
		{"an empty version is always taken", []*registry.Device{dev("a", "viettel", "A2")}, "", true,
			regDiff{Removed: []string{"c"}}, 1},
		{"and again", []*registry.Device{dev("a", "viettel", "A2")}, "", true, regDiff{}, 1},
	} {
		diff, ok := v.replace(tc.devs, tc.version, 0)
		if ok != tc.ok || !slices.Equal(diff.Set, tc.want.Set) || !slices.Equal(diff.Removed, tc.want.Removed) || v.len() != tc.n {
			t.Errorf("%s: %+v, %v, %d devices; want %+v, %v, %d", tc.name, diff, ok, v.len(), tc.want, tc.ok, tc.n)
		}
	}
	m, ok := v.lookup("a")
	if !ok || m.Name != "A2" || m.Partner != "viettel" || m.Interval != 300 {
		t.Errorf("lookup(a) = %+v, %v", m, ok)
	}
	for _, tc := range []struct {
		id, partner string
		want        bool
	}{{"a", "viettel", true}, {"a", "vnpt", false}, {"c", "vnpt", false}, {"zz", "viettel", false}} {
		if got := v.registeredTo(tc.id, tc.partner); got != tc.want {
			t.Errorf("registeredTo(%s, %s) = %v", tc.id, tc.partner, got)
		}
	}
}
