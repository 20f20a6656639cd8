package auth

import "slices"

// Role is what a person may do on the dashboard.
type Role string

const (
	RoleOperator   Role = "operator"   // the wall, alerts, acknowledge
	RoleLeadership Role = "leadership" // the wall and KPI tiles, read-only
	RoleAnalyst    Role = "analyst"    // read-only data (and the wall)
	RoleAdmin      Role = "admin"      // everything: devices, rules, users, kiosks, audit
	// RoleKiosk is not a person's role: a video wall's kiosk token.
	RoleKiosk Role = "kiosk"
	// RoleSystem is an administrative system posting events (per-system token).
	RoleSystem Role = "system"
)

// ValidRole reports whether r is a role a person can hold.
func ValidRole(r Role) bool {
	return r == RoleOperator || r == RoleLeadership || r == RoleAnalyst || r == RoleAdmin
}

// Permission is one thing the dashboard lets a principal do.
type Permission string

const (
	PermPublic     Permission = "public"      // anyone, signed in or not
	PermSignedIn   Permission = "signed_in"   // any principal
	PermWall       Permission = "wall.view"   // the wall page, its data and the wall channel
	PermAlertsView Permission = "alerts.view" // the alerts channel and list
	PermAck        Permission = "alerts.ack"  // acknowledge an alert
	PermKPI        Permission = "kpi.view"    // KPI tiles and /api/kpis
	PermAdmin      Permission = "admin"       // devices, rules, users, kiosks, audit
	// PermExport downloads a table the role may see as CSV or XLSX
	// (/api/export/…; each table also needs its own permission). People
	// only: a kiosk's wall has nothing to download.
	PermExport Permission = "export"
)

var grants = map[Role][]Permission{
	RoleOperator:   {PermWall, PermAlertsView, PermAck, PermKPI, PermExport},
	RoleLeadership: {PermWall, PermAlertsView, PermKPI, PermExport},
	RoleAnalyst:    {PermWall, PermKPI, PermExport},
	RoleAdmin:      {PermWall, PermAlertsView, PermAck, PermKPI, PermAdmin, PermExport},
	RoleKiosk:      {PermWall},
}

// Permissions lists what a role may do.
func (r Role) Permissions() []Permission { return grants[r] }

// Can reports whether the role has the permission.
func (r Role) Can(p Permission) bool {
	return p == PermPublic || p == PermSignedIn && r != "" || slices.Contains(grants[r], p)
}

// channels maps websocket channels to the permission they need. A channel
// not listed (and not "device:…") is refused to everyone.
var channels = map[string]Permission{
	"wall":    PermWall,
	"alerts":  PermAlertsView,
	"kpi":     PermKPI,
	"devices": PermAlertsView,
}

// ChannelPermission is the permission a websocket channel needs; false for
// an unknown channel. "device:<id>" channels follow "devices".
func ChannelPermission(channel string) (Permission, bool) {
	if len(channel) > 7 && channel[:7] == "device:" {
		channel = "devices"
	}
	p, ok := channels[channel]
	return p, ok
}

// CanSubscribe reports whether the role may receive a websocket channel.
func (r Role) CanSubscribe(channel string) bool {
	p, ok := ChannelPermission(channel)
	return ok && r.Can(p)
}
