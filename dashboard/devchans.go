package dashboard

// deviceChans holds the open device:<id> channels, at most max at once;
// a channel nobody watched for idleSweeps sweeps is dropped (the wall
// model's tick sweeps). It is not safe for concurrent use (the wall model
// holds its lock).
type deviceChans struct {
	max   int
	chans map[string]*channel
}

// idleSweeps is how many sweeps a device channel survives unwatched.
const idleSweeps = 3

func newDeviceChans(maxOpen int) *deviceChans {
	return &deviceChans{max: maxOpen, chans: map[string]*channel{}}
}

// get returns the open channel of a device, or nil.
func (d *deviceChans) get(id string) *channel { return d.chans[id] }

// open returns the channel of a device, opening it (filled by fill) if
// it is not open yet; nil when max channels are open.
func (d *deviceChans) open(id string, fill func(c *channel)) *channel {
	if c := d.chans[id]; c != nil {
		return c
	}
	if len(d.chans) >= d.max {
		return nil
	}
	c := newChannel("device:"+id, 1000, 64<<10)
	fill(c)
	d.chans[id] = c
	return c
}

// all lists the open channels.
func (d *deviceChans) all() []*channel {
	out := make([]*channel, 0, len(d.chans))
	for _, c := range d.chans {
		out = append(out, c)
	}
	return out
}

// sweep drops the channels nobody watched for idleSweeps sweeps.
func (d *deviceChans) sweep() {
	for id, c := range d.chans {
		if c.sweepIdle(idleSweeps) {
			delete(d.chans, id)
		}
	}
}
