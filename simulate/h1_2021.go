package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/sonla-ioc/ioc/internal/event"
)

// The H1-2021 scenario: the raw events the city's administrative systems
// would have produced from 1 January to 30 June 2021 (with the 2020 events
// the year-on-year figures need), generated deterministically so that, once
// consumed, the KPI tiles show the figures of the city's report "Một số
// điểm nổi bật trong công tác cải cách hành chính Thành phố Sơn La 6 tháng
// đầu năm 2021". The generator emits events only; it never sets a figure.

// ScenarioEvent is one event with the time its system would send it.
type ScenarioEvent struct {
	SendAt time.Time
	Event  event.AdminEvent
}

// Scenario is a generated event stream.
type Scenario struct {
	Name   string
	Events []ScenarioEvent // in send order
	// AsOf is the newest event time: the time the tiles are valid for.
	AsOf time.Time
	// Figures are what the events add up to, counted here in Go
	// independently of the SQL (the tests compare both).
	Figures Figures
}

// Figures are the scenario's ground truth.
type Figures struct {
	TasksTotal, TasksDone, TasksInProgress, TasksOverdue int
	DossiersReceived, DossiersResolved, DossiersOnTime   int
	DossiersLate, DossiersOpen, DossiersNearDue          int
	DossiersReturned, DossiersWithdrawn                  int
	DossiersSettled, DossiersSettledDen                  int
	ProceduresPublished                                  int
	ProceduresByField                                    map[string]int
	Shops, ShopsExcellent                                int
	DocumentsIssued, DocumentsSigned                     int
	Departments, DepartmentsSigning                      int
	Communes, CommunesSigning                            int
	Revenue, RevenuePrevYear, EstimateProvince           int64
	EstimateCouncil                                      int64
	PortalTraffic, PortalTrafficPrevYear                 int64
}

// Scenarios lists the scenarios by name.
var Scenarios = map[string]func() *Scenario{"h1-2021": H12021}

var loc = event.Location

func at(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, loc) }

func rfc(t time.Time) string { return t.In(loc).Format(time.RFC3339) }

func day(t time.Time) string { return t.In(loc).Format(time.DateOnly) }

// Public holidays in the city calendar (Tết 2021: 10–16 February).
var holidays = map[string]bool{
	"2020-01-01": true, "2020-01-23": true, "2020-01-24": true, "2020-01-27": true, "2020-01-28": true, "2020-01-29": true,
	"2020-04-02": true, "2020-04-30": true, "2020-05-01": true, "2020-09-02": true, "2020-09-03": true,
	"2021-01-01": true, "2021-02-10": true, "2021-02-11": true, "2021-02-12": true, "2021-02-15": true, "2021-02-16": true,
	"2021-04-21": true, "2021-04-30": true, "2021-05-03": true,
}

func workingDay(t time.Time) bool {
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday && !holidays[day(t)]
}

// workingDays lists the working days in [from, to].
func workingDays(from, to time.Time) []time.Time {
	var out []time.Time
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		if workingDay(d) {
			out = append(out, d)
		}
	}
	return out
}

// addWorkingDays moves to the n-th working day after t, same clock time.
func addWorkingDays(t time.Time, n int) time.Time {
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if workingDay(t) {
			n--
		}
	}
	return t
}

func clock(d time.Time, hh, mm int) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, loc)
}

// officeTime is a random time in office hours (07:30–11:30, 13:30–17:00).
func officeTime(rng *rand.Rand, d time.Time) time.Time {
	min := rng.IntN(240 + 210)
	if min < 240 {
		return clock(d, 7, 30).Add(time.Duration(min) * time.Minute).Add(time.Duration(rng.IntN(60)) * time.Second)
	}
	return clock(d, 13, 30).Add(time.Duration(min-240) * time.Minute).Add(time.Duration(rng.IntN(60)) * time.Second)
}

// ---- reference data ---------------------------------------------------------

type unitRef struct {
	id, name, kind string
	shop           bool
	code           string // dossier-id prefix of its one-stop shop
}

const cityUnit = "ubnd-tp"

var units = []unitRef{
	{cityUnit, "UBND thành phố Sơn La", "city", true, "000.00.26.H50"},
	{"phong-noi-vu", "Phòng Nội vụ", "department", false, ""},
	{"phong-tu-phap", "Phòng Tư pháp", "department", false, ""},
	{"phong-tckh", "Phòng Tài chính – Kế hoạch", "department", false, ""},
	{"phong-tnmt", "Phòng Tài nguyên và Môi trường", "department", false, ""},
	{"phong-ldtbxh", "Phòng Lao động – Thương binh và Xã hội", "department", false, ""},
	{"phong-vhtt", "Phòng Văn hóa và Thông tin", "department", false, ""},
	{"phong-gddt", "Phòng Giáo dục và Đào tạo", "department", false, ""},
	{"phong-y-te", "Phòng Y tế", "department", false, ""},
	{"phong-kinh-te", "Phòng Kinh tế", "department", false, ""},
	{"phong-qldt", "Phòng Quản lý đô thị", "department", false, ""},
	{"thanh-tra", "Thanh tra thành phố", "department", false, ""},
	{"van-phong", "Văn phòng HĐND và UBND thành phố", "department", false, ""},
	{"phuong-chieng-le", "UBND phường Chiềng Lề", "ward", true, "000.21.26.H50"},
	{"phuong-to-hieu", "UBND phường Tô Hiệu", "ward", true, "000.22.26.H50"},
	{"phuong-quyet-thang", "UBND phường Quyết Thắng", "ward", true, "000.23.26.H50"},
	{"phuong-quyet-tam", "UBND phường Quyết Tâm", "ward", true, "000.24.26.H50"},
	{"phuong-chieng-sinh", "UBND phường Chiềng Sinh", "ward", true, "000.25.26.H50"},
	{"phuong-chieng-an", "UBND phường Chiềng An", "ward", true, "000.26.26.H50"},
	{"phuong-chieng-coi", "UBND phường Chiềng Cơi", "ward", true, "000.27.26.H50"},
	{"xa-chieng-co", "UBND xã Chiềng Cọ", "commune", true, "000.28.26.H50"},
	{"xa-chieng-den", "UBND xã Chiềng Đen", "commune", true, "000.29.26.H50"},
	{"xa-chieng-ngan", "UBND xã Chiềng Ngần", "commune", true, "000.30.26.H50"},
	{"xa-chieng-xom", "UBND xã Chiềng Xôm", "commune", true, "000.31.26.H50"},
	{"xa-hua-la", "UBND xã Hua La", "commune", true, "000.32.26.H50"},
}

// Names of procedures per field (a sample of the real catalogue; numbered
// variants fill the counts).
var procedureNames = map[string][]string{
	"construction": {"Cấp giấy phép xây dựng nhà ở riêng lẻ", "Cấp giấy phép sửa chữa, cải tạo công trình",
		"Điều chỉnh giấy phép xây dựng", "Gia hạn giấy phép xây dựng", "Cấp giấy phép di dời công trình"},
	"justice": {"Chứng thực bản sao từ bản chính", "Chứng thực chữ ký trong các giấy tờ, văn bản",
		"Đăng ký khai sinh", "Đăng ký kết hôn", "Cấp bản sao trích lục hộ tịch", "Chứng thực hợp đồng, giao dịch"},
	"home_affairs": {"Thủ tục thành lập hội", "Công nhận ban vận động thành lập hội", "Thủ tục xét tặng danh hiệu Lao động tiên tiến",
		"Đăng ký hoạt động tín ngưỡng"},
	"natural_resources_environment": {"Đăng ký biến động quyền sử dụng đất", "Cấp giấy chứng nhận quyền sử dụng đất lần đầu",
		"Tách thửa hoặc hợp thửa đất", "Chuyển mục đích sử dụng đất", "Xác nhận kế hoạch bảo vệ môi trường"},
	"education_training": {"Cho phép trường mầm non hoạt động giáo dục", "Chuyển trường đối với học sinh trung học cơ sở",
		"Công nhận trường tiểu học đạt chuẩn quốc gia"},
	"culture": {"Cấp giấy phép kinh doanh karaoke", "Thông báo tổ chức lễ hội", "Công nhận gia đình văn hóa"},
	"economy": {"Đăng ký thành lập hộ kinh doanh", "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh",
		"Cấp giấy phép bán lẻ rượu", "Cấp giấy chứng nhận đủ điều kiện an toàn thực phẩm"},
}

// How many of the 186 procedures each field has, and the processing limits
// (working days) they draw from.
var procedureCounts = []struct {
	field string
	n     int
	days  []int
}{
	{"construction", 24, []int{7, 15, 20}},
	{"justice", 38, []int{0, 0, 1, 3, 5}},
	{"home_affairs", 22, []int{5, 10, 15}},
	{"natural_resources_environment", 41, []int{10, 15, 20, 30}},
	{"education_training", 21, []int{5, 10, 20}},
	{"culture", 12, []int{3, 5, 7}},
	{"economy", 28, []int{1, 3, 5, 10}},
}

type procRef struct {
	code, field, level string
	days               int
	idx                procIndex // the service index flags (h1_2021_index.go)
}

// ---- the generator ----------------------------------------------------------

type gen struct {
	rng *rand.Rand
	// idx draws the service index fields (h1_2021_index.go): a source of
	// its own, so the figures drawn from rng stay as they were.
	idx    *rand.Rand
	events []ScenarioEvent
	f      Figures
	asOf   time.Time
}

func (g *gen) emit(sendAt time.Time, ev event.AdminEvent) {
	g.events = append(g.events, ScenarioEvent{SendAt: sendAt, Event: ev})
}

func ptr[T any](v T) *T { return &v }

// H12021 generates the scenario of the city's H1-2021 report.
func H12021() *Scenario {
	g := &gen{rng: rand.New(rand.NewPCG(2021, 625)), idx: rand.New(rand.NewPCG(766, 2022)), asOf: at(2021, 6, 30, 17, 0)}
	g.f.ProceduresByField = map[string]int{}
	g.units()
	procs := g.procedures()
	g.dossiers(procs)
	g.documents()
	g.tasks()
	g.budget()
	g.portal()
	g.ratings()
	g.feedback()
	sort.SliceStable(g.events, func(i, j int) bool { return g.events[i].SendAt.Before(g.events[j].SendAt) })
	return &Scenario{Name: "h1-2021", Events: g.events, AsOf: g.asOf, Figures: g.f}
}

// units: the registry as of 2020, then the changes of H1 2021: two
// departments and two communes start signing digitally, the health
// department (phòng Y tế) is dissolved (report, section 3).
func (g *gen) units() {
	lateSigners := map[string]time.Time{
		"phong-ldtbxh": at(2021, 2, 22, 9, 0), "thanh-tra": at(2021, 3, 15, 9, 0),
		"xa-chieng-xom": at(2021, 1, 25, 9, 0), "xa-hua-la": at(2021, 3, 1, 9, 0),
	}
	for _, u := range units {
		start := at(2020, 1, 2, 8, 0)
		_, late := lateSigners[u.id]
		g.emit(start, &event.Unit{AdminMeta: event.AdminMeta{Source: "ubnd-tp-registry"}, UnitID: u.id, Name: u.name,
			UnitKind: u.kind, OneStopShop: u.shop, DigitalSignature: ptr(!late), Status: "active", At: rfc(start)})
		if late {
			t := lateSigners[u.id]
			g.emit(t, &event.Unit{AdminMeta: event.AdminMeta{Source: "ubnd-tp-registry"}, UnitID: u.id, Name: u.name,
				UnitKind: u.kind, OneStopShop: u.shop, DigitalSignature: ptr(true), Status: "active", At: rfc(t)})
		}
		switch {
		case u.id == "phong-y-te":
			t := at(2021, 4, 1, 8, 0)
			g.emit(t, &event.Unit{AdminMeta: event.AdminMeta{Source: "ubnd-tp-registry"}, UnitID: u.id, Name: u.name,
				UnitKind: u.kind, DigitalSignature: ptr(true), Status: "dissolved", At: rfc(t)})
		case u.kind == "department":
			g.f.Departments++
			g.f.DepartmentsSigning++
		case u.kind == "ward" || u.kind == "commune":
			g.f.Communes++
			g.f.CommunesSigning++
		}
		if u.shop {
			g.f.Shops++
		}
	}
}

// procedures: the catalogue published in October 2020 (188), then on 10
// March 2021 six withdrawn and four published: 186 in 7 fields.
func (g *gen) procedures() []procRef {
	newIn2021 := map[string]bool{"construction": true, "justice": true, "home_affairs": true, "economy": true}
	withdrawn := map[string]int{"natural_resources_environment": 2, "justice": 1, "construction": 1, "education_training": 1, "economy": 1}
	var out []procRef
	n := 0
	pub := func(p procRef, name string, t time.Time, status string) {
		ev := &event.Procedure{AdminMeta: event.AdminMeta{Source: "csdl-tthc"}, Code: p.code, Name: name, Field: p.field,
			Level: p.level, ProcessingDays: ptr(p.days), Status: status, At: rfc(t)}
		p.idx.apply(ev, t)
		g.emit(t, ev)
	}
	for _, fc := range procedureCounts {
		names := procedureNames[fc.field]
		for i := 0; i < fc.n+withdrawn[fc.field]; i++ {
			n++
			p := procRef{code: fmt.Sprintf("1.%06d.000.00.00.H50", 1000+n*7), field: fc.field, level: "city",
				days: fc.days[g.rng.IntN(len(fc.days))]}
			if i%4 == 3 {
				p.level = "commune"
			}
			p.idx = g.procIndex(p)
			name := names[i%len(names)]
			if i >= len(names) {
				name += " (trường hợp " + strconv.Itoa(i/len(names)+1) + ")"
			}
			published := at(2020, 10, 15, 8, 0).Add(time.Duration(n) * time.Minute)
			change := at(2021, 3, 10, 9, 0).Add(time.Duration(n) * time.Second)
			switch {
			case i >= fc.n: // published in 2020, withdrawn in 2021
				pub(p, name, published, "published")
				pub(p, name, change, "withdrawn")
				continue
			case i == fc.n-1 && newIn2021[fc.field]:
				pub(p, name, change, "published")
			default:
				pub(p, name, published, "published")
			}
			out = append(out, p)
			g.f.ProceduresByField[p.field]++
			g.f.ProceduresPublished++
		}
	}
	return out
}

// dossiers: the 13 one-stop shops from 21 December 2020 to 30 June 2021.
// Most dossiers are resolved the same day (certifications, civil status),
// the rest within their limit; none late. Those not resolved by the end of
// 30 June stay open.
func (g *gen) dossiers(procs []procRef) {
	var city, commune []procRef
	for _, p := range procs {
		if p.level == "city" {
			city = append(city, p)
		} else {
			commune = append(commune, p)
		}
	}
	seq := map[string]int{}
	for _, d := range workingDays(at(2020, 12, 21, 0, 0), at(2021, 6, 30, 0, 0)) {
		for _, u := range units {
			if !u.shop {
				continue
			}
			n, pool := 1+g.rng.IntN(5), commune
			if u.kind == "city" {
				n, pool = 35+g.rng.IntN(21), city
			}
			for i := 0; i < n; i++ {
				seq[u.id]++
				// Civil-status and certification procedures are the bulk.
				p := pool[g.rng.IntN(len(pool))]
				if g.rng.IntN(2) == 0 {
					for _, q := range pool {
						if q.field == "justice" && q.days <= 1 && g.rng.IntN(3) == 0 {
							p = q
							break
						}
					}
				}
				id := fmt.Sprintf("%s-%s-%04d", u.code, d.Format("060102"), seq[u.id]%10000)
				g.dossier(id, u.id, p, officeTime(g.rng, d))
			}
		}
	}
}

func (g *gen) dossier(id, unit string, p procRef, received time.Time) {
	channel := "in_person"
	if g.rng.IntN(100) < 32 {
		channel = "online"
	}
	due := func(from time.Time) time.Time {
		if p.days == 0 {
			if from.Hour() < 15 {
				return clock(from, 17, 0)
			}
			return clock(addWorkingDays(from, 1), 11, 0)
		}
		return clock(addWorkingDays(from, p.days), 17, 0)
	}
	dueAt := due(received)
	ev := func(state string, t time.Time) *event.Dossier {
		return &event.Dossier{AdminMeta: event.AdminMeta{Source: "igate-sonla"}, DossierID: id, ProcedureCode: p.code, Unit: unit,
			Channel: channel, State: state, At: rfc(t), ReceivedAt: rfc(received), DueAt: rfc(dueAt)}
	}
	// Every event carries the due time in force when it happened.
	trail := []*event.Dossier{ev("received", received), ev("in_progress", received.Add(time.Duration(2+g.rng.IntN(8))*time.Minute))}
	outcome, t := "resolved", time.Time{}
	switch r := g.rng.IntN(1000); {
	case r < 3:
		outcome, t = "withdrawn", received.Add(time.Duration(60+g.rng.IntN(300))*time.Minute)
	case r < 11:
		outcome, t = "returned", received.Add(time.Duration(60+g.rng.IntN(180))*time.Minute)
	case r < 40 && p.days >= 2:
		// Additional documents requested: the shop sets a new appointment,
		// counted from the request.
		req := received.Add(time.Duration(60+g.rng.IntN(120)) * time.Minute)
		dueAt = due(req)
		trail = append(trail, ev("supplement_requested", req))
		t = officeTime(g.rng, addWorkingDays(req, 1+g.rng.IntN(2)))
	case r < 950:
		// Same day: within two hours, or the next morning if received late.
		if received.Hour() < 15 {
			t = received.Add(time.Duration(15+g.rng.IntN(105)) * time.Minute)
		} else {
			t = clock(addWorkingDays(received, 1), 7, 30).Add(time.Duration(g.rng.IntN(150)) * time.Minute)
		}
	default:
		t = officeTime(g.rng, addWorkingDays(received, 1+g.rng.IntN(2)))
	}
	if t.After(dueAt) {
		t = dueAt.Add(-time.Duration(1+g.rng.IntN(30)) * time.Minute)
	}
	if t.After(g.asOf) {
		outcome = "" // not settled by the end of June: stays open
	} else {
		trail = append(trail, ev(outcome, t))
	}
	g.dossierIndex(p, channel, trail)
	for _, e := range trail {
		sendAt, _ := time.Parse(time.RFC3339, e.At)
		if sendAt.After(g.asOf) {
			continue // after the end of the scenario
		}
		g.emit(sendAt, e)
	}
	in2021 := received.Year() == 2021
	if in2021 {
		g.f.DossiersReceived++
		if outcome != "withdrawn" {
			g.f.DossiersSettledDen++
			if outcome == "resolved" || outcome == "returned" {
				g.f.DossiersSettled++
			}
		}
	}
	switch outcome {
	case "resolved":
		if t.Year() == 2021 {
			g.f.DossiersResolved++
			if !t.After(dueAt) {
				g.f.DossiersOnTime++
			} else {
				g.f.DossiersLate++
			}
		}
	case "returned":
		if in2021 {
			g.f.DossiersReturned++
		}
	case "withdrawn":
		if in2021 {
			g.f.DossiersWithdrawn++
		}
	case "":
		g.f.DossiersOpen++
		if !dueAt.Before(g.asOf) && dueAt.Before(g.asOf.Add(24*time.Hour)) {
			g.f.DossiersNearDue++
		}
		if dueAt.Before(g.asOf) {
			g.f.DossiersLate++
		}
	}
}

// documents: 4,910 documents issued by the city People's Committee in H1
// 2021, 4,704 of them signed digitally (fewer unsigned month by month), and
// the documents of the departments and communes, which the tile leaves out.
func (g *gen) documents() {
	days := workingDays(at(2021, 1, 4, 0, 0), at(2021, 6, 30, 0, 0))
	const issued = 4910
	times := make([]time.Time, 0, issued)
	// Decision 32/QĐ-UBND (the reform plan) and 44/QĐ-UBND (monitoring
	// task execution), then the rest; the last at 17:00 on 30 June.
	named := []struct {
		number string
		t      time.Time
	}{{"32/QĐ-UBND", at(2021, 1, 7, 10, 0)}, {"44/QĐ-UBND", at(2021, 1, 8, 15, 0)}}
	for range issued - len(named) - 1 {
		times = append(times, officeTime(g.rng, days[g.rng.IntN(len(days))]))
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	times = append(times, g.asOf)
	// Unsigned documents per month, January to June: 206 in all.
	unsignedQuota := map[time.Month]int{1: 60, 2: 45, 3: 35, 4: 28, 5: 22, 6: 16}
	byMonth := map[time.Month][]int{}
	for i, t := range times {
		byMonth[t.Month()] = append(byMonth[t.Month()], i)
	}
	unsigned := map[int]bool{}
	for m := time.January; m <= time.June; m++ { // in order: the draws are reproducible
		idx := byMonth[m]
		for _, k := range g.rng.Perm(len(idx))[:unsignedQuota[m]] {
			unsigned[idx[k]] = true
		}
	}
	types := []struct{ kind, suffix string }{{"quyết định", "QĐ-UBND"}, {"công văn", "UBND-VP"}, {"kế hoạch", "KH-UBND"},
		{"báo cáo", "BC-UBND"}, {"thông báo", "TB-UBND"}}
	numbers := map[string]int{"QĐ-UBND": 44}
	doc := func(id, unit, number, kind string, t time.Time, signed bool) {
		g.emit(t, &event.Document{AdminMeta: event.AdminMeta{Source: "vnpt-ioffice"}, DocumentID: id, Unit: unit, Number: number,
			DocType: kind, IssuedAt: rfc(t), Signed: ptr(signed)})
		if unit == cityUnit {
			g.f.DocumentsIssued++
			if signed {
				g.f.DocumentsSigned++
			}
		}
	}
	for _, n := range named {
		doc("vb-ubndtp-"+n.number, cityUnit, n.number, "quyết định", n.t, true)
	}
	for i, t := range times {
		ty := types[g.rng.IntN(len(types))]
		numbers[ty.suffix]++
		number := fmt.Sprintf("%d/%s", numbers[ty.suffix], ty.suffix)
		doc(fmt.Sprintf("vb-ubndtp-2021-%05d", i+1), cityUnit, number, ty.kind, t, !unsigned[i])
	}
	// Departments and commune-level units issue their own documents.
	for i := range 1200 {
		u := units[1+g.rng.IntN(len(units)-1)]
		if u.id == "phong-y-te" {
			continue
		}
		t := officeTime(g.rng, days[g.rng.IntN(len(days))])
		doc(fmt.Sprintf("vb-%s-2021-%04d", u.id, i+1), u.id, fmt.Sprintf("%d/%s", i+1, "UBND"), "công văn", t, g.rng.IntN(10) != 0)
	}
}

// tasks: plan 32/QĐ-UBND of 7 January 2021, 7 main tasks and 70 specific
// tasks. By 25 June 36 are done and 34 in progress; none is overdue. No
// task changes between 25 and 30 June.
func (g *gen) tasks() {
	perMain := []int{8, 7, 14, 9, 10, 8, 14}
	titles := map[int][]string{
		1: {"Ban hành kế hoạch CCHC năm 2021", "Kiểm tra công tác CCHC tại các xã, phường", "Tuyên truyền CCHC", "Báo cáo CCHC định kỳ"},
		2: {"Rà soát văn bản quy phạm pháp luật", "Theo dõi thi hành pháp luật", "Kiểm tra văn bản QPPL"},
		3: {"Rà soát, cắt giảm thời gian giải quyết TTHC", "Công khai TTHC tại bộ phận một cửa", "Tiếp nhận hồ sơ trực tuyến mức độ 3, 4",
			"Số hóa hồ sơ, kết quả giải quyết TTHC"},
		4: {"Sắp xếp, kiện toàn tổ chức bộ máy", "Giải thể phòng Y tế", "Đề án Trung tâm Phát triển quỹ đất", "Giải thể Đội Quy tắc"},
		5: {"Sát hạch, bổ nhiệm viên chức lãnh đạo", "Kiểm tra kỷ luật, kỷ cương hành chính", "Lắp đặt máy chấm công vân tay",
			"Đánh giá năng lực cán bộ, công chức"},
		6: {"Giao dự toán ngân sách năm 2021", "Thực hiện cơ chế tự chủ tài chính", "Quản lý thu ngân sách", "Công khai ngân sách"},
		7: {"Ứng dụng chữ ký số", "Vận hành hệ thống quản lý văn bản điều hành", "Nâng cấp Cổng thông tin điện tử",
			"Thí điểm Trung tâm điều hành đô thị thông minh"},
	}
	owners := []string{"phong-noi-vu", "phong-tu-phap", "phong-tckh", "phong-tnmt", "phong-vhtt", "phong-gddt", "phong-kinh-te",
		"phong-qldt", "van-phong", "thanh-tra"}
	plan := at(2021, 1, 7, 9, 0)
	// Which tasks are done by 25 June: 36 of 70, spread over the main tasks.
	order := g.rng.Perm(70)
	done := map[int]bool{}
	for _, k := range order[:36] {
		done[k] = true
	}
	k := 0
	for main, n := range perMain {
		for i := range n {
			id := fmt.Sprintf("kh32-2021-%d.%02d", main+1, i+1)
			title := titles[main+1][i%len(titles[main+1])]
			if i >= len(titles[main+1]) {
				title += " (đợt " + strconv.Itoa(i/len(titles[main+1])+1) + ")"
			}
			owner := owners[g.rng.IntN(len(owners))]
			starts := workingDays(at(2021, 1, 11, 0, 0), at(2021, 3, 31, 0, 0))
			started := officeTime(g.rng, starts[g.rng.IntN(len(starts))])
			var due, finished time.Time
			if done[k] {
				ends := workingDays(started.AddDate(0, 0, 14), at(2021, 6, 25, 0, 0))
				finished = officeTime(g.rng, ends[g.rng.IntN(len(ends))])
				// Due at the end of the quarter it was done in.
				due = quarterEnd(finished)
				g.f.TasksDone++
			} else {
				due = []time.Time{at(2021, 9, 30, 0, 0), at(2021, 11, 30, 0, 0), at(2021, 12, 15, 0, 0), at(2021, 12, 31, 0, 0)}[g.rng.IntN(4)]
				g.f.TasksInProgress++
			}
			g.f.TasksTotal++
			task := func(state string, t time.Time) {
				g.emit(t, &event.Task{AdminMeta: event.AdminMeta{Source: "qlnv-sonla"}, TaskID: id, Plan: "32/QĐ-UBND", PlanYear: 2021,
					MainTask: main + 1, Title: title, OwnerUnit: owner, DueDate: day(due), State: state, At: rfc(t)})
			}
			task("assigned", plan)
			task("in_progress", started)
			if done[k] {
				task("done", finished)
			}
			k++
		}
	}
}

func quarterEnd(t time.Time) time.Time {
	q := (int(t.Month())-1)/3*3 + 4
	return time.Date(t.Year(), time.Month(q), 1, 0, 0, 0, 0, loc).AddDate(0, 0, -1)
}

// budget: the 2021 estimates (province 220 bn VND, city People's Council
// 354 bn VND, decided in December 2020), monthly revenue by source for
// 2020 and H1 2021: 194.7 bn VND in H1 2021 against 124.6 bn VND in H1 2020.
func (g *gen) budget() {
	const (
		estProvince = 220_000_000_000
		estCouncil  = 354_000_000_000
		h1          = 194_700_000_000
		h1Prev      = 124_600_000_000
		h2Prev      = 151_300_000_000
	)
	est := func(id string, year int, authority string, amount int64, t time.Time) {
		g.emit(t, &event.BudgetEntry{AdminMeta: event.AdminMeta{Source: "tabmis"}, EntryID: id, Type: "estimate",
			Period: strconv.Itoa(year), AmountVND: ptr(amount), Authority: authority, At: rfc(t)})
	}
	est("dt-2020-tinh", 2020, "province", 190_000_000_000, at(2019, 12, 10, 9, 0))
	est("dt-2020-hdnd", 2020, "council", 300_000_000_000, at(2019, 12, 20, 9, 0))
	est("dt-2021-tinh", 2021, "province", estProvince, at(2020, 12, 10, 9, 0))
	est("dt-2021-hdnd", 2021, "council", estCouncil, at(2020, 12, 22, 9, 0))
	g.f.EstimateProvince, g.f.EstimateCouncil = estProvince, estCouncil

	sources := []string{"tax", "fees", "land_use", "land_rent", "other"}
	months := func(year int, from, to time.Month, total int64) {
		var weights []float64
		var sum float64
		for m := from; m <= to; m++ {
			for range sources {
				w := 0.5 + g.rng.Float64()
				weights = append(weights, w)
				sum += w
			}
		}
		var booked int64
		i := 0
		for m := from; m <= to; m++ {
			// Booked at 16:00 on the last working day of the month.
			wd := workingDays(time.Date(year, m, 1, 0, 0, 0, 0, loc), time.Date(year, m+1, 0, 0, 0, 0, 0, loc))
			t := clock(wd[len(wd)-1], 16, 0)
			for _, src := range sources {
				amount := int64(math.Round(float64(total)*weights[i]/sum/1e6)) * 1e6
				if i == len(weights)-1 {
					amount = total - booked // whole VND: the sum is exact
				}
				booked += amount
				g.emit(t, &event.BudgetEntry{AdminMeta: event.AdminMeta{Source: "tabmis"},
					EntryID: fmt.Sprintf("thu-%d-%02d-%s", year, m, src), Type: "revenue",
					Period: fmt.Sprintf("%d-%02d", year, m), AmountVND: ptr(amount), Source: src, At: rfc(t)})
				i++
			}
		}
	}
	months(2020, 1, 6, h1Prev)
	months(2020, 7, 12, h2Prev)
	months(2021, 1, 6, h1)
	g.f.Revenue, g.f.RevenuePrevYear = h1, h1Prev
}

// portal: daily visits and interactions of the city portal for 2020 and H1
// 2021; 1 January – 30 June 2021 is 43 % above the same span of 2020 (the
// fan page linking to the portal started in 2021).
func (g *gen) portal() {
	daily := func(from, to time.Time, visits, inter float64) (days []time.Time, v, i []int64) {
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			f := 1.0
			if !workingDay(d) {
				f = 0.55
			}
			days = append(days, d)
			v = append(v, int64(visits*f*(0.85+0.3*g.rng.Float64())))
			i = append(i, int64(inter*f*(0.8+0.4*g.rng.Float64())))
		}
		return
	}
	emit := func(days []time.Time, v, in []int64) {
		for k, d := range days {
			// A day's totals are reported just after midnight.
			send := d.AddDate(0, 0, 1).Add(5 * time.Minute)
			g.emit(send, &event.PortalDay{AdminMeta: event.AdminMeta{Source: "cong-ttdt", ReportedAt: rfc(send)}, Day: day(d),
				Visits: ptr(v[k]), Interactions: ptr(in[k])})
		}
	}
	sum := func(x []int64) (s int64) {
		for _, v := range x {
			s += v
		}
		return
	}
	d0, v0, i0 := daily(at(2020, 1, 1, 0, 0), at(2020, 6, 30, 0, 0), 1800, 140)
	d1, v1, i1 := daily(at(2021, 1, 1, 0, 0), at(2021, 6, 30, 0, 0), 1800*1.43, 140*1.43)
	// Scale 2021 so that visits and interactions are each exactly 43 % up
	// (rounded to the unit).
	fit := func(x []int64, want int64) {
		got := sum(x)
		for k := range x {
			x[k] = x[k] * want / got
		}
		x[len(x)-1] += want - sum(x)
	}
	fit(v1, int64(math.Round(float64(sum(v0))*1.43)))
	fit(i1, int64(math.Round(float64(sum(i0))*1.43)))
	emit(d0, v0, i0)
	d2, v2, i2 := daily(at(2020, 7, 1, 0, 0), at(2020, 12, 31, 0, 0), 1900, 150)
	emit(d2, v2, i2)
	emit(d1, v1, i1)
	g.f.PortalTrafficPrevYear = sum(v0) + sum(i0)
	g.f.PortalTraffic = sum(v1) + sum(i1)
}

// ratings: the province's ratings of the 13 one-stop shops: 2020, Q1 2021
// (Chiềng Xôm "good"), and H1 2021 (all 13 excellent, report section 2).
func (g *gen) ratings() {
	rate := func(unit, period, rating string, t time.Time) {
		g.emit(t, &event.Rating{AdminMeta: event.AdminMeta{Source: "ubnd-tinh-son-la"}, Unit: unit, Period: period, Rating: rating, RatedAt: rfc(t)})
	}
	for i, u := range units {
		if !u.shop {
			continue
		}
		r2020 := "excellent"
		if i%4 == 1 {
			r2020 = "good"
		}
		rate(u.id, "2020", r2020, at(2020, 12, 28, 9, 0))
		q1 := "excellent"
		if u.id == "xa-chieng-xom" {
			q1 = "good"
		}
		rate(u.id, "2021-Q1", q1, at(2021, 4, 16, 9, 0))
		rate(u.id, "2021-H1", "excellent", at(2021, 6, 28, 9, 0))
		g.f.ShopsExcellent++
	}
}
