#!/usr/bin/env python3
"""Schematic map of Son La City for the wall (writes sonla.json beside it).

Not a survey: a hand-drawn outline of the city's 12 wards and communes,
cut into one cell per ward around a hand-placed centre (Voronoi cells of the
centres, clipped to the outline), and the Nậm La stream as a polyline. Good
enough to place every device by its registry position and colour it by
state; run again after moving a centre or the outline. Coordinates are
(lat, lon) in WGS 84.
"""
import json, os

OUTLINE = [  # clockwise from the north-west
    (21.372, 103.868), (21.376, 103.905), (21.372, 103.935), (21.368, 103.957),
    (21.340, 103.962), (21.312, 103.958), (21.288, 103.962), (21.272, 103.948),
    (21.276, 103.918), (21.280, 103.890), (21.300, 103.878), (21.330, 103.866),
    (21.352, 103.858),
]
CENTRES = {  # ward: centre (lat, lon), near its devices in deploy/devices.csv
    "Phường Chiềng Lề": (21.3295, 103.9085),
    "Phường Tô Hiệu": (21.3255, 103.9165),
    "Phường Quyết Thắng": (21.3200, 103.9055),
    "Phường Quyết Tâm": (21.3125, 103.8975),
    "Phường Chiềng Sinh": (21.3000, 103.9330),
    "Phường Chiềng An": (21.3400, 103.9215),
    "Phường Chiềng Cơi": (21.3060, 103.9170),
    "Xã Chiềng Cọ": (21.3470, 103.8895),
    "Xã Chiềng Đen": (21.3600, 103.8740),
    "Xã Chiềng Ngần": (21.2845, 103.9450),
    "Xã Chiềng Xôm": (21.3600, 103.9420),
    "Xã Hua La": (21.2905, 103.9000),
}
RIVER = [  # Nậm La, upstream first
    (21.366, 103.864), (21.352, 103.880), (21.345, 103.893), (21.336, 103.903),
    (21.329, 103.911), (21.326, 103.917), (21.316, 103.919), (21.305, 103.918),
    (21.292, 103.926), (21.278, 103.936),
]

def clip(poly, a, b):
    """Keep the part of poly nearer to a than to b (half-plane clip)."""
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    nx, ny = b[0] - a[0], b[1] - a[1]
    inside = lambda p: (p[0] - mx) * nx + (p[1] - my) * ny <= 0
    out = []
    for i, p in enumerate(poly):
        q = poly[(i + 1) % len(poly)]
        pin, qin = inside(p), inside(q)
        if pin:
            out.append(p)
        if pin != qin:
            dp = (p[0] - mx) * nx + (p[1] - my) * ny
            dq = (q[0] - mx) * nx + (q[1] - my) * ny
            t = dp / (dp - dq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out

wards = []
for name, c in CENTRES.items():
    cell = list(OUTLINE)
    for other, o in CENTRES.items():
        if other != name:
            cell = clip(cell, c, o)
    wards.append({"name": name, "kind": "ward" if name.startswith("Phường") else "commune",
                  "label": list(c), "polygon": [[round(p[0], 5), round(p[1], 5)] for p in cell]})
out = {"note": "schematic, not a survey: dashboard/web/geo/schematic.py",
       "outline": [list(p) for p in OUTLINE], "river": {"name": "Suối Nậm La", "line": [list(p) for p in RIVER]},
       "wards": wards}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sonla.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
