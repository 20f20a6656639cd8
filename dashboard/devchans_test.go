package dashboard

import "testing"

// Device channels open up to the bound, filled once; one nobody watches
// goes after three sweeps, marked dead; a watched one stays.
func TestDeviceChans(t *testing.T) {
	d := newDeviceChans(2)
	fills := 0
	fill := func(c *channel) { fills++; c.set("meta", map[string]string{"name": c.name}) }
	a := d.open("a", fill)
	if a == nil || d.open("a", fill) != a || fills != 1 {
		t.Fatalf("open a twice: %v, %d fills, want the same channel filled once", a, fills)
	}
	if _, ok := a.get("meta"); !ok {
		t.Error("the channel is not filled")
	}
	b := d.open("b", fill)
	if c := d.open("c", fill); c != nil || b == nil {
		t.Errorf("beyond the bound: c %v, b %v", c, b)
	}
	if d.get("c") != nil || d.get("a") != a || len(d.all()) != 2 {
		t.Errorf("get c %v, get a %v, %d open", d.get("c"), d.get("a"), len(d.all()))
	}
	b.subs[&session{}] = &subscription{ch: b} // b is watched
	for i := range idleSweeps {
		if d.get("a") == nil {
			t.Fatalf("a dropped after %d sweeps, want %d", i, idleSweeps)
		}
		d.sweep()
	}
	if d.get("a") != nil || !a.dead {
		t.Errorf("a after %d unwatched sweeps: open %v, dead %v", idleSweeps, d.get("a") != nil, a.dead)
	}
	if d.get("b") != b || b.dead {
		t.Errorf("the watched channel b: open %v, dead %v", d.get("b") != nil, b.dead)
	}
	if c := d.open("c", fill); c == nil {
		t.Error("no room for c after a was dropped")
	}
}
