package svcindex

// GroupDef is one of the six groups.
type GroupDef struct {
	Code, NameVI, NameEN string
	Max                  float64
}

// Groups are the six groups of the index, 100 points in all.
var Groups = []GroupDef{
	{"publicity", "Công khai, minh bạch", "Publicity and transparency", 18},
	{"progress", "Tiến độ giải quyết", "Progress of handling", 20},
	{"online", "Dịch vụ công trực tuyến", "Online public services", 12},
	{"payment", "Thanh toán trực tuyến", "Online payment", 10},
	{"satisfaction", "Mức độ hài lòng", "Satisfaction", 18},
	{"digitisation", "Số hoá hồ sơ", "Digitisation of dossiers", 22},
}

// IndicatorDef is one indicator: its group, points, default rule and the
// unit levels where it is scored (nil: every level).
type IndicatorDef struct {
	Code, Group, NameVI, NameEN string
	Max                         float64
	// Threshold > 0 scores full points from that rate on (rule
	// "threshold"); 0 is linear. Config.Thresholds overrides it.
	Threshold float64
	Levels    []string
	Source    string
}

const (
	src766   = "QĐ 766/QĐ-TTg (23/6/2022), Phụ lục"
	srcPorta = "dichvucong.gov.vn, Bộ chỉ số phục vụ người dân, doanh nghiệp (điểm và ngưỡng theo số liệu Cổng công bố, 10/2026)"
	srcQNam  = "QĐ 892/QĐ-UBND (28/4/2023) tỉnh Quảng Nam, Phụ lục"
)

var cityOnly = []string{"city"}

// Indicators lists every indicator, in page order. Codes are stable. The
// points and thresholds are those of the national portal's published
// scores (docs/service-index.md, "Sources"): every one of them is
// recomputed from the portal's own numerators and denominators in
// TestPublishedProvinceBreakdown.
var Indicators = []IndicatorDef{
	{"publicity.published_on_time", "publicity", "Công bố TTHC đúng hạn", "Procedures published on time", 6, 0, cityOnly, src766},
	{"publicity.posted_on_time", "publicity", "Cập nhật, công khai TTHC đúng hạn", "Procedures posted on time", 4, 0, cityOnly, src766},
	{"publicity.posted_complete", "publicity", "Công khai TTHC đầy đủ nội dung", "Procedures posted complete", 2, 0, cityOnly, src766},
	{"publicity.synced", "publicity", "Đồng bộ hồ sơ lên Cổng DVC quốc gia", "Dossiers synchronised to the national portal", 6, 0, nil, srcPorta},
	{"progress.on_time", "progress", "Hồ sơ xử lý đúng hạn, trước hạn, đang trong hạn", "Dossiers handled on time or within deadline", 20, 0, nil, src766},
	{"online.full_online", "online", "Hồ sơ trực tuyến toàn trình", "Full-online dossiers of eligible procedures", 12, 0, nil, srcPorta},
	{"payment.paid_online", "payment", "Hồ sơ thanh toán trực tuyến", "Dossiers paid online", 6, 0, nil, srcPorta},
	{"payment.procedures_enabled", "payment", "TTHC có phí, lệ phí triển khai thanh toán trực tuyến", "Fee-bearing procedures offering online payment", 2, 0.8, cityOnly, srcPorta},
	{"payment.procedures_used", "payment", "TTHC có phát sinh giao dịch thanh toán trực tuyến", "Fee-bearing procedures with dossiers paid online", 2, 0.8, cityOnly, srcPorta},
	{"satisfaction.feedback_on_time", "satisfaction", "Phản ánh, kiến nghị xử lý đúng hạn", "Feedback handled on time", 6, 0, nil, src766},
	{"satisfaction.feedback", "satisfaction", "Hài lòng trong xử lý phản ánh, kiến nghị", "Satisfaction with feedback handling", 6, 0, nil, src766},
	{"satisfaction.dossiers", "satisfaction", "Hài lòng trong tiếp nhận, giải quyết TTHC", "Satisfaction with dossier handling", 6, 0.9, nil, src766},
	{"digitisation.e_result", "digitisation", "Hồ sơ cấp kết quả điện tử", "Dossiers with an electronic result", 6, 0, nil, src766},
	{"digitisation.digitised", "digitisation", "Hồ sơ được số hoá", "Digitised dossiers", 4, 0, nil, src766},
	{"digitisation.reused", "digitisation", "Khai thác, sử dụng lại dữ liệu số hoá", "Reuse of digitised data", 2, 0.8, nil, src766},
	{"digitisation.to_store", "digitisation", "Hồ sơ số hoá kết nối, chia sẻ dữ liệu phục vụ tái sử dụng (Kho dữ liệu)", "Electronic results pushed to the citizen's data store", 4, 0, nil, srcPorta},
	{"digitisation.population", "digitisation", "Hồ sơ có sử dụng thông tin, dữ liệu dân cư", "Dossiers using the population database", 2, 0, nil, srcPorta},
	{"digitisation.population_procedures", "digitisation", "TTHC triển khai kết nối, chia sẻ dữ liệu dân cư", "Procedures linked to the population database", 2, 0, cityOnly, srcPorta},
	{"digitisation.e_certified", "digitisation", "Chứng thực bản sao điện tử từ bản chính", "Electronic certified copies", 2, 0, []string{"city", "ward", "commune"}, srcQNam},
}

// applies reports whether an indicator is scored at a unit kind.
func (d IndicatorDef) applies(kind string) bool {
	if d.Levels == nil {
		return true
	}
	for _, l := range d.Levels {
		if l == kind {
			return true
		}
	}
	return false
}
