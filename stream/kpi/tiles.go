package kpi

import "github.com/sonla-ioc/ioc/internal/event"

// Shape says how a tile's value reads and how a point without rows fills.
type Shape string

const (
	Percent       Shape = "percent"        // numerator / denominator × 100
	Count         Shape = "count"          // the numerator itself
	PercentChange Shape = "percent_change" // (numerator / denominator − 1) × 100
)

// Def is one tile: its stable id, the query that computes it (with the
// other tiles of its feed), labels, shape and optional breakdown.
type Def struct {
	ID string
	// Query names sql/<Query>.sql, which returns rows of (tile, point,
	// numerator, denominator, value, target) for this tile and its siblings.
	Query   string
	Group   string
	LabelVI string
	LabelEN string
	Shape   Shape
	// Breakdown names the labels of the keys of sql/<id>.breakdown.sql, if
	// the tile has one.
	Breakdown map[string][2]string
	// Kinds are the feeds the tile reads: a batch of other kinds leaves it
	// as it is (unless as_of moves).
	Kinds []event.AdminKind
	// Target is the tile's target (the law's or the plan's), nil for none.
	// The tile shows it even while no event gives a row: the SQL returns
	// the same constant with every row.
	Target *float64
	// External tiles are computed by another engine of the stream from the
	// same events (the service index, index.go), not by sql/<Query>.sql:
	// one way to compute each figure.
	External bool
}

func target(v float64) *float64 { return &v }

var (
	tasks     = []event.AdminKind{event.KindTask}
	dossiers  = []event.AdminKind{event.KindDossier}
	registry  = []event.AdminKind{event.KindUnit}
	budget    = []event.AdminKind{event.KindBudget}
	documents = []event.AdminKind{event.KindDocument, event.KindUnit}
)

// FieldLabels are the seven fields of the procedure catalogue.
var FieldLabels = map[string][2]string{
	"construction":                  {"Xây dựng", "Construction"},
	"justice":                       {"Tư pháp", "Justice"},
	"home_affairs":                  {"Nội vụ", "Home Affairs"},
	"natural_resources_environment": {"Tài nguyên – Môi trường", "Natural Resources & Environment"},
	"education_training":            {"Giáo dục – Đào tạo", "Education & Training"},
	"culture":                       {"Văn hóa", "Culture"},
	"economy":                       {"Kinh tế", "Economy"},
}

// MainTaskLabels are the seven areas of an annual reform plan.
var MainTaskLabels = map[string][2]string{
	"1": {"Chỉ đạo, điều hành CCHC", "Leadership and direction"},
	"2": {"Cải cách thể chế", "Institutional reform"},
	"3": {"Cải cách thủ tục hành chính", "Administrative procedures"},
	"4": {"Cải cách tổ chức bộ máy", "Organisational structure"},
	"5": {"Cải cách chế độ công vụ", "Civil service"},
	"6": {"Cải cách tài chính công", "Public finance"},
	"7": {"Chính phủ điện tử, chính phủ số", "E-government"},
}

// Defs lists every tile in page order. Ids are stable: they key the tiles
// topic, /api/kpis and the page.
var Defs = []Def{
	{ID: "reform_plan.done", Target: target(100), Query: "reform_plan", Kinds: tasks, Group: "reform_plan", Shape: Percent, Breakdown: MainTaskLabels,
		LabelVI: "Nhiệm vụ kế hoạch CCHC đã hoàn thành", LabelEN: "Reform plan tasks done"},
	{ID: "reform_plan.in_progress", Query: "reform_plan", Kinds: tasks, Group: "reform_plan", Shape: Count,
		LabelVI: "Nhiệm vụ đang thực hiện", LabelEN: "Reform plan tasks in progress"},
	{ID: "reform_plan.overdue", Target: target(0), Query: "reform_plan", Kinds: tasks, Group: "reform_plan", Shape: Count,
		LabelVI: "Nhiệm vụ trễ hạn, quá hạn", LabelEN: "Reform plan tasks overdue"},
	{ID: "dossiers.on_time", Target: target(100), Query: "dossiers", Kinds: dossiers, Group: "dossiers", Shape: Percent,
		LabelVI: "Hồ sơ giải quyết đúng hạn", LabelEN: "Dossiers resolved on time"},
	{ID: "dossiers.settled", Query: "dossiers", Kinds: dossiers, Group: "dossiers", Shape: Percent,
		LabelVI: "Hồ sơ tiếp nhận đã giải quyết", LabelEN: "Received dossiers settled"},
	{ID: "dossiers.late", Target: target(0), Query: "dossiers", Kinds: dossiers, Group: "dossiers", Shape: Count,
		LabelVI: "Hồ sơ trễ hẹn", LabelEN: "Dossiers late"},
	{ID: "dossiers.near_due", Query: "dossiers", Kinds: dossiers, Group: "dossiers", Shape: Count,
		LabelVI: "Hồ sơ sắp đến hạn (24 giờ)", LabelEN: "Dossiers due within 24 hours"},
	{ID: "procedures.published", Query: "procedures", Kinds: []event.AdminKind{event.KindProcedure}, Group: "procedures", Shape: Count, Breakdown: FieldLabels,
		LabelVI: "Thủ tục hành chính đã công bố", LabelEN: "Administrative procedures published"},
	{ID: "one_stop.excellent", Target: target(100), Query: "one_stop", Kinds: []event.AdminKind{event.KindUnit, event.KindRating}, Group: "one_stop", Shape: Percent,
		LabelVI: "Bộ phận một cửa được tỉnh xếp loại xuất sắc", LabelEN: "One-stop shops rated excellent by the province"},
	{ID: "documents.signed", Target: target(100), Query: "documents", Kinds: documents, Group: "e_government", Shape: Percent,
		LabelVI: "Văn bản UBND thành phố ban hành có ký số", LabelEN: "City People's Committee documents signed digitally"},
	{ID: "signing.departments", Target: target(100), Query: "signing", Kinds: registry, Group: "e_government", Shape: Percent,
		LabelVI: "Phòng, ban ứng dụng chữ ký số", LabelEN: "Departments using digital signatures"},
	{ID: "signing.communes", Target: target(100), Query: "signing", Kinds: registry, Group: "e_government", Shape: Percent,
		LabelVI: "UBND xã, phường ứng dụng chữ ký số", LabelEN: "Ward and commune committees using digital signatures"},
	{ID: "budget.vs_province", Target: target(100), Query: "budget", Kinds: budget, Group: "budget", Shape: Percent,
		LabelVI: "Thu ngân sách so với dự toán tỉnh giao", LabelEN: "Budget revenue against the province's estimate"},
	{ID: "budget.vs_council", Target: target(100), Query: "budget", Kinds: budget, Group: "budget", Shape: Percent,
		LabelVI: "Thu ngân sách so với dự toán HĐND thành phố", LabelEN: "Budget revenue against the city council's estimate"},
	{ID: "budget.yoy", Query: "budget", Kinds: budget, Group: "budget", Shape: PercentChange,
		LabelVI: "Thu ngân sách so với cùng kỳ năm trước", LabelEN: "Budget revenue against the same period last year"},
	{ID: "portal.yoy", Query: "portal", Kinds: []event.AdminKind{event.KindPortal}, Group: "portal", Shape: PercentChange,
		LabelVI: "Lượt truy cập, tương tác Cổng TTĐT so với cùng kỳ", LabelEN: "Portal visits and interactions against last year"},
}
