package deploy_test

// The container deployment (docker-compose.yml, Dockerfile, .dockerignore,
// deploy/docker/) checked against the ioc binary and the repository, without
// Docker: the test builds the binary, asks it for its subcommands, and runs
// `ioc check-config` with each compose service's own command line and
// environment, then compares the effective configuration with the rest of
// the compose file (ports, health checks, service names, volumes).
//
// The compose file is decoded with unknown keys refused, so a misspelt key
// fails here; a key the structs below do not list yet must be added to them.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sonla-ioc/ioc/internal/registry"
)

// ---------------------------------------------------------------------------
// Fixtures shared by every test: the repository root and the ioc binary.

var (
	repoRoot string // absolute path of the module root
	iocBin   string // ioc built from ./cmd/ioc for this test run
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "go.mod"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy tests: cannot find the module root above deploy/:", err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "ioc-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	iocBin = filepath.Join(dir, "ioc")
	build := exec.Command(goTool(), "build", "-o", iocBin, "./cmd/ioc")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "deploy tests: go build ./cmd/ioc: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

func repoPath(rel string) string { return filepath.Join(repoRoot, filepath.FromSlash(rel)) }

// ---------------------------------------------------------------------------
// The compose file, as far as this deployment uses it.

type composeFile struct {
	Name     string              `yaml:"name"`
	Version  string              `yaml:"version"` // obsolete: must stay absent
	Services map[string]*service `yaml:"services"`
	Volumes  map[string]any      `yaml:"volumes"`
	Networks map[string]any      `yaml:"networks"`
	Secrets  map[string]any      `yaml:"secrets"`
	Configs  map[string]any      `yaml:"configs"`
	Ext      map[string]any      `yaml:",inline"` // only x-* keys are allowed here
}

type service struct {
	Image           string            `yaml:"image"`
	Build           any               `yaml:"build"`
	PullPolicy      string            `yaml:"pull_policy"`
	Command         stringList        `yaml:"command"`
	Entrypoint      stringList        `yaml:"entrypoint"`
	Environment     envMap            `yaml:"environment"`
	EnvFile         any               `yaml:"env_file"`
	Ports           []portSpec        `yaml:"ports"`
	Expose          []string          `yaml:"expose"`
	Volumes         []volumeSpec      `yaml:"volumes"`
	Tmpfs           any               `yaml:"tmpfs"`
	DependsOn       dependsOn         `yaml:"depends_on"`
	Healthcheck     *healthcheck      `yaml:"healthcheck"`
	Restart         string            `yaml:"restart"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	StopSignal      string            `yaml:"stop_signal"`
	Profiles        []string          `yaml:"profiles"`
	Ulimits         map[string]any    `yaml:"ulimits"`
	Deploy          *deploySpec       `yaml:"deploy"`
	Logging         any               `yaml:"logging"`
	Networks        any               `yaml:"networks"`
	Hostname        string            `yaml:"hostname"`
	ContainerName   string            `yaml:"container_name"`
	User            string            `yaml:"user"`
	ReadOnly        bool              `yaml:"read_only"`
	Init            bool              `yaml:"init"`
	CapAdd          []string          `yaml:"cap_add"`
	CapDrop         []string          `yaml:"cap_drop"`
	SecurityOpt     []string          `yaml:"security_opt"`
	Labels          any               `yaml:"labels"`
	Secrets         any               `yaml:"secrets"`
	Configs         any               `yaml:"configs"`
	ExtraHosts      any               `yaml:"extra_hosts"`
	Ext             map[string]any    `yaml:",inline"` // only x-* keys are allowed here
	Sysctls         map[string]string `yaml:"sysctls"`
}

type healthcheck struct {
	Test          stringList `yaml:"test"`
	Interval      string     `yaml:"interval"`
	Timeout       string     `yaml:"timeout"`
	Retries       int        `yaml:"retries"`
	StartPeriod   string     `yaml:"start_period"`
	StartInterval string     `yaml:"start_interval"`
	Disable       bool       `yaml:"disable"`
}

type deploySpec struct {
	Resources struct {
		Limits struct {
			CPUs   string `yaml:"cpus"`
			Memory string `yaml:"memory"`
			Pids   int    `yaml:"pids"`
		} `yaml:"limits"`
		Reservations struct {
			CPUs   string `yaml:"cpus"`
			Memory string `yaml:"memory"`
		} `yaml:"reservations"`
	} `yaml:"resources"`
}

// stringList is a compose "string or list" (command, entrypoint, healthcheck.test).
type stringList []string

func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = strings.Fields(n.Value)
		return nil
	}
	var l []string
	err := n.Decode(&l)
	*s = l
	return err
}

// envMap is a compose environment: a map, or a list of KEY=VALUE.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	m := envMap{}
	switch n.Kind {
	case yaml.MappingNode:
		var raw map[string]*string
		if err := n.Decode(&raw); err != nil {
			return err
		}
		for k, v := range raw {
			if v != nil {
				m[k] = *v
			}
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment must be a map or a list", n.Line)
	}
	*e = m
	return nil
}

// dependsOn is a compose depends_on: a list of names, or a map name → condition.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	m := dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, s := range l {
			m[s] = "service_started"
		}
	case yaml.MappingNode:
		var raw map[string]struct {
			Condition string `yaml:"condition"`
			Restart   bool   `yaml:"restart"`
			Required  *bool  `yaml:"required"`
		}
		if err := n.Decode(&raw); err != nil {
			return err
		}
		for k, v := range raw {
			m[k] = v.Condition
		}
	default:
		return fmt.Errorf("line %d: depends_on must be a list or a map", n.Line)
	}
	*d = m
	return nil
}

// portSpec is one published port, short ("[ip:]published:target[/proto]") or long syntax.
type portSpec struct{ HostIP, Published, Target string }

func (p *portSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var l struct {
			Target    string `yaml:"target"`
			Published string `yaml:"published"`
			HostIP    string `yaml:"host_ip"`
			Protocol  string `yaml:"protocol"`
			Mode      string `yaml:"mode"`
			Name      string `yaml:"name"`
		}
		err := n.Decode(&l)
		*p = portSpec{HostIP: l.HostIP, Published: l.Published, Target: l.Target}
		return err
	}
	s, _, _ := strings.Cut(n.Value, "/")
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		*p = portSpec{Target: parts[0]}
	case 2:
		*p = portSpec{Published: parts[0], Target: parts[1]}
	case 3:
		*p = portSpec{HostIP: parts[0], Published: parts[1], Target: parts[2]}
	default:
		return fmt.Errorf("line %d: port %q is not [ip:]published:target", n.Line, n.Value)
	}
	return nil
}

// volumeSpec is one mount, short ("source:target[:mode]") or long syntax.
type volumeSpec struct{ Type, Source, Target string }

func (v *volumeSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var l struct {
			Type     string `yaml:"type"`
			Source   string `yaml:"source"`
			Target   string `yaml:"target"`
			ReadOnly bool   `yaml:"read_only"`
			Bind     any    `yaml:"bind"`
			Volume   any    `yaml:"volume"`
			Tmpfs    any    `yaml:"tmpfs"`
		}
		err := n.Decode(&l)
		*v = volumeSpec{Type: l.Type, Source: l.Source, Target: l.Target}
		return err
	}
	parts := strings.Split(n.Value, ":")
	switch {
	case len(parts) == 1:
		*v = volumeSpec{Type: "volume", Target: parts[0]} // anonymous volume
	case strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/") || strings.HasPrefix(parts[0], "~"):
		*v = volumeSpec{Type: "bind", Source: parts[0], Target: parts[1]}
	default:
		*v = volumeSpec{Type: "volume", Source: parts[0], Target: parts[1]}
	}
	return nil
}

// interpolate applies compose variable substitution to one value:
// $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err},
// ${VAR:+alt}, ${VAR+alt}.
var varRE = regexp.MustCompile(`\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))`)

func interpolate(s string, env map[string]string) (string, error) {
	var firstErr error
	out := varRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sm := varRE.FindStringSubmatch(m)
		name, op, arg := sm[1], sm[2], sm[3]
		if name == "" {
			name = sm[4]
		}
		val, set := env[name]
		switch op {
		case "":
			return val
		case ":-":
			if val == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":?", "?":
			if (op == ":?" && val == "") || !set {
				if firstErr == nil {
					firstErr = fmt.Errorf("required variable %s is not set: %s", name, arg)
				}
			}
		case ":+":
			if val != "" {
				return arg
			}
			return ""
		case "+":
			if set {
				return arg
			}
			return ""
		}
		return val
	})
	if firstErr == nil && strings.Contains(strings.ReplaceAll(out, "$$", ""), "${") {
		firstErr = fmt.Errorf("unsupported substitution in %q", s)
	}
	return out, firstErr
}

// loadCompose decodes docker-compose.yml with every value interpolated from
// env, as `docker compose` does. Unknown keys are errors.
func loadCompose(t *testing.T, env map[string]string) *composeFile {
	t.Helper()
	b, err := os.ReadFile(repoPath("docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	{
		var walk func(n *yaml.Node, isKey bool)
		seen := map[*yaml.Node]bool{}
		walk = func(n *yaml.Node, isKey bool) {
			if n == nil || seen[n] {
				return
			}
			seen[n] = true
			switch n.Kind {
			case yaml.ScalarNode:
				if !isKey {
					v, err := interpolate(n.Value, env)
					if err != nil {
						t.Errorf("docker-compose.yml line %d: %v", n.Line, err)
					}
					n.Value = v
				}
			case yaml.MappingNode:
				for i := 0; i+1 < len(n.Content); i += 2 {
					walk(n.Content[i], true)
					walk(n.Content[i+1], false)
				}
			case yaml.AliasNode:
				walk(n.Alias, false)
			default:
				for _, c := range n.Content {
					walk(c, false)
				}
			}
		}
		walk(&doc, false)
		if b, err = yaml.Marshal(&doc); err != nil {
			t.Fatal(err)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	cf := &composeFile{}
	if err := dec.Decode(cf); err != nil {
		t.Fatalf("docker-compose.yml: %v (a key the test does not know yet belongs in its structs)", err)
	}
	if len(cf.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	for name, s := range cf.Services {
		if s == nil {
			t.Fatalf("service %s is empty", name)
		}
		for k := range s.Ext {
			if !strings.HasPrefix(k, "x-") {
				t.Errorf("service %s: unknown key %q", name, k)
			}
		}
	}
	for k := range cf.Ext {
		if !strings.HasPrefix(k, "x-") {
			t.Errorf("docker-compose.yml: unknown top-level key %q", k)
		}
	}
	return cf
}

// The environment the compose file is read with: only what it requires (a
// secret has no default), so the file's own defaults apply otherwise,
// whatever the developer's shell exports.
var composeEnv = map[string]string{"IOC_SECRETS_DIR": "/etc/ioc/secrets"}

// ---------------------------------------------------------------------------
// What the binary and the Dockerfile say.

type binaryFacts struct {
	subcommands map[string]bool   // from `ioc --help`
	envNames    map[string]bool   // IOC_* variables the sources read
	opsDefault  map[string]string // role → default ops listen address (main.go)
}

var cachedFacts *binaryFacts

func facts(t *testing.T) binaryFacts {
	t.Helper()
	if cachedFacts != nil {
		return *cachedFacts
	}
	out, err := exec.Command(iocBin, "--help").Output()
	if err != nil {
		t.Fatalf("ioc --help: %v", err)
	}
	f := binaryFacts{subcommands: map[string]bool{}, envNames: map[string]bool{}, opsDefault: map[string]string{}}
	cmdRE := regexp.MustCompile(`(?m)^  ([a-z][a-z-]*) {2,}\S`)
	for _, m := range cmdRE.FindAllStringSubmatch(string(out), -1) {
		f.subcommands[m[1]] = true
	}
	if len(f.subcommands) < 3 {
		t.Fatalf("found no subcommands in `ioc --help`:\n%s", out)
	}
	srcs, _ := filepath.Glob(repoPath("cmd/ioc/*.go"))
	envRE := regexp.MustCompile(`"(IOC_[A-Z0-9_]+)"`)
	opsRE := regexp.MustCompile(`case "([a-z-]+)":\s*\n\s*opsDefault = "([^"]*)"`)
	for _, p := range srcs {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envRE.FindAllStringSubmatch(string(b), -1) {
			f.envNames[m[1]] = true
		}
		for _, m := range opsRE.FindAllStringSubmatch(string(b), -1) {
			f.opsDefault[m[1]] = m[2]
		}
	}
	if len(f.envNames) == 0 || len(f.opsDefault) == 0 {
		t.Fatalf("cmd/ioc: found no IOC_* variables (%d) or role ops defaults (%d); has main.go/config.go changed shape?", len(f.envNames), len(f.opsDefault))
	}
	cachedFacts = &f
	return f
}

type dockerStage struct {
	base, name string
	copies     []dockerCopy
	entrypoint []string // exec form only
	user       string
	env        map[string]string
	runs       []string
	expose     []string
	shellEntry bool // ENTRYPOINT in shell form
}

type dockerCopy struct {
	from    string // --from stage, "" for the build context
	sources []string
	dest    string
}

func parseDockerfile(t *testing.T) []*dockerStage {
	t.Helper()
	b, err := os.ReadFile(repoPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(l, `\`) {
			cur.WriteString(strings.TrimSuffix(l, `\`) + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	var stages []*dockerStage
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		instr = strings.ToUpper(instr)
		rest = strings.TrimSpace(rest)
		if instr == "FROM" {
			f := strings.Fields(rest)
			if len(f) == 0 {
				t.Fatalf("Dockerfile: FROM without an image")
			}
			st := &dockerStage{base: f[0], env: map[string]string{}}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if instr != "ARG" {
				t.Fatalf("Dockerfile: %s before the first FROM", instr)
			}
			continue
		}
		st := stages[len(stages)-1]
		switch instr {
		case "COPY", "ADD":
			c := dockerCopy{}
			f := strings.Fields(rest)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				if v, ok := strings.CutPrefix(f[0], "--from="); ok {
					c.from = v
				}
				f = f[1:]
			}
			if strings.HasPrefix(rest, "[") {
				t.Fatalf("Dockerfile: JSON-form %s is not understood by this test: %s", instr, l)
			}
			if len(f) < 2 {
				t.Fatalf("Dockerfile: %s needs a source and a destination: %s", instr, l)
			}
			c.sources, c.dest = f[:len(f)-1], f[len(f)-1]
			st.copies = append(st.copies, c)
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &st.entrypoint); err != nil {
				st.shellEntry = true
			}
		case "USER":
			st.user = rest
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				if k, v, ok := strings.Cut(kv, "="); ok {
					st.env[k] = strings.Trim(v, `"`)
				}
			}
		case "RUN":
			st.runs = append(st.runs, rest)
		case "EXPOSE":
			st.expose = append(st.expose, strings.Fields(rest)...)
		}
	}
	if len(stages) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	return stages
}

// imageFiles maps a path inside the final image to the repository file it was
// copied from (COPY from the build context into the final stage).
func imageFiles(stages []*dockerStage) map[string]string {
	m := map[string]string{}
	for _, c := range stages[len(stages)-1].copies {
		if c.from != "" {
			continue
		}
		for _, src := range c.sources {
			dest := c.dest
			if strings.HasSuffix(dest, "/") || len(c.sources) > 1 {
				dest = path.Join(dest, path.Base(src))
			}
			m[dest] = path.Clean(src)
		}
	}
	return m
}

// ---------------------------------------------------------------------------
// Service classification.

func isIOC(s *service) bool { return strings.HasPrefix(s.Image, "sonla-ioc/ioc:") }

// role is the ioc subcommand a service runs ("" for other images).
func role(s *service) string {
	if !isIOC(s) || len(s.Command) == 0 {
		return ""
	}
	return s.Command[0]
}

func oneShot(s *service) bool { r := role(s); return r == "migrate" || r == "check-config" }

// flagValue returns the value of -name / --name in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		for _, p := range []string{"-" + name, "--" + name} {
			if a == p && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v
			}
		}
	}
	return ""
}

// hostFile maps a path inside a service's container to a repository file:
// bind mounts first, then files baked into the image by the Dockerfile.
func hostFile(s *service, inContainer string, baked map[string]string) (string, bool) {
	for _, v := range s.Volumes {
		if v.Type != "bind" {
			continue
		}
		if rel, err := filepath.Rel(v.Target, inContainer); err == nil && !strings.HasPrefix(rel, "..") {
			return path.Join(path.Clean(v.Source), rel), true
		}
	}
	if isIOC(s) {
		if src, ok := baked[inContainer]; ok {
			return src, true
		}
	}
	return "", false
}

// effective runs `ioc check-config` exactly as the service would start
// (its -config file, its environment) and returns the printed configuration.
func effective(t *testing.T, name string, s *service, baked map[string]string) map[string]any {
	t.Helper()
	cfgPath := flagValue(s.Command, "config")
	if cfgPath == "" {
		cfgPath = s.Environment["IOC_CONFIG"]
	}
	if cfgPath == "" {
		cfgPath = parseDockerfileEnv(t)["IOC_CONFIG"]
	}
	if cfgPath == "" {
		t.Fatalf("service %s: no -config flag and no IOC_CONFIG", name)
	}
	src, ok := hostFile(s, cfgPath, baked)
	if !ok {
		t.Fatalf("service %s: config %s is neither mounted nor copied into the image by the Dockerfile", name, cfgPath)
	}
	return checkConfig(t, name, repoPath(src), s.Environment)
}

func parseDockerfileEnv(t *testing.T) map[string]string {
	st := parseDockerfile(t)
	return st[len(st)-1].env
}

func checkConfig(t *testing.T, who, file string, env map[string]string) map[string]any {
	t.Helper()
	cmd := exec.Command(iocBin, "check-config", "-config", file)
	cmd.Env = []string{} // nothing from the developer's shell
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: ioc check-config -config %s: %v\n%s", who, file, err, stderr.String())
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(stdout.Bytes(), &m); err != nil {
		t.Fatalf("%s: check-config output is not YAML: %v", who, err)
	}
	return m
}

func get(m map[string]any, key string) any {
	var cur any = m
	for _, k := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

func getString(m map[string]any, key string) string {
	v := get(m, key)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func getStrings(m map[string]any, key string) []string {
	var out []string
	switch v := get(m, key).(type) {
	case []any:
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
	case string:
		out = append(out, v)
	}
	return out
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return p
}

// opsPort is the port a role serves /healthz, /readyz and /metrics on.
func opsPort(f binaryFacts, r string, eff map[string]any) string {
	addr := getString(eff, "ops.listen")
	if addr == "" {
		addr = f.opsDefault[r]
	}
	return portOf(addr)
}

// addressesUsed lists, per ioc role, the config keys naming other services.
var addressesUsed = map[string][]string{
	"ingest":    {"ingest.mqtt.url", "kafka.brokers"},
	"stream":    {"kafka.brokers", "clickhouse.addr"},
	"dashboard": {"kafka.brokers", "clickhouse.addr"},
	"notify":    {"kafka.brokers", "clickhouse.addr"},
	"run":       {"ingest.mqtt.url", "kafka.brokers", "clickhouse.addr"},
	"migrate":   {"clickhouse.addr"},
	"simulate":  {"simulate.mqtt_url"},
}

func hostPort(addr string) (string, string) {
	if u, err := url.Parse(addr); err == nil && u.Host != "" && u.Scheme != "" {
		return u.Hostname(), u.Port()
	}
	h, p, _ := net.SplitHostPort(addr)
	return h, p
}

// listens returns the ports a backing service accepts clients on, from its
// own configuration in the compose file.
func listens(t *testing.T, cf *composeFile, name string) map[string]bool {
	t.Helper()
	s := cf.Services[name]
	ports := map[string]bool{}
	switch {
	case strings.HasPrefix(s.Image, "eclipse-mosquitto:"):
		conf := mosquittoConf(t, s)
		for _, l := range conf["listener"] {
			if f := strings.Fields(l); len(f) > 0 {
				ports[f[0]] = true
			}
		}
	case strings.HasPrefix(s.Image, "apache/kafka:"):
		// Clients must use an advertised address: the broker sends it back
		// in metadata and the client reconnects to it.
		for _, l := range strings.Split(s.Environment["KAFKA_ADVERTISED_LISTENERS"], ",") {
			if u, err := url.Parse(strings.TrimSpace(l)); err == nil && u.Hostname() == name {
				ports[u.Port()] = true
			}
		}
	case strings.HasPrefix(s.Image, "clickhouse/clickhouse-server:"):
		ports["9000"] = true // native protocol: the image's default tcp_port
		for _, v := range s.Volumes {
			if v.Type == "bind" && strings.HasPrefix(v.Target, "/etc/clickhouse-server/") {
				b, _ := os.ReadFile(repoPath(v.Source))
				if regexp.MustCompile(`<tcp_port>`).Match(b) {
					t.Errorf("%s overrides tcp_port; teach this test to read it", v.Source)
				}
			}
		}
	default:
		t.Fatalf("service %s: image %s is not a backing service this test knows", name, s.Image)
	}
	return ports
}

// mosquittoConf reads the mounted mosquitto.conf: directive → values.
func mosquittoConf(t *testing.T, s *service) map[string][]string {
	t.Helper()
	src, ok := hostFile(s, "/mosquitto/config/mosquitto.conf", nil)
	if !ok {
		t.Fatal("mosquitto: /mosquitto/config/mosquitto.conf is not mounted from the repository")
	}
	b, err := os.ReadFile(repoPath(src))
	if err != nil {
		t.Fatal(err)
	}
	conf := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, _ := strings.Cut(l, " ")
		conf[k] = append(conf[k], strings.TrimSpace(v))
	}
	return conf
}

// ---------------------------------------------------------------------------
// Tests.

// Structure every service needs, whatever its image.
func TestComposeServices(t *testing.T) {
	cf := loadCompose(t, composeEnv)
	if cf.Version != "" {
		t.Error("docker-compose.yml: drop the obsolete `version:` key (Compose specification)")
	}
	usedVolumes := map[string]bool{}
	for name, s := range cf.Services {
		if s.Image == "" {
			t.Errorf("%s: no image", name)
		} else if tag := s.Image[strings.LastIndex(s.Image, ":")+1:]; !strings.Contains(s.Image, ":") || (tag == "latest" && !isIOC(s)) {
			t.Errorf("%s: image %s must pin a version tag", name, s.Image)
		}
		// Restart policy and health check: one-shot jobs run once; every
		// long-running service restarts and reports its health.
		if oneShot(s) {
			if s.Restart != "no" && !strings.HasPrefix(s.Restart, "on-failure") {
				t.Errorf("%s: one-shot %q must have restart \"no\" (or on-failure), not %q", name, role(s), s.Restart)
			}
		} else {
			switch {
			case s.Restart == "always", s.Restart == "unless-stopped", strings.HasPrefix(s.Restart, "on-failure"):
			default:
				t.Errorf("%s: long-running service needs restart: unless-stopped (or always/on-failure), has %q", name, s.Restart)
			}
			// An ioc role without an ops endpoint (the simulator) cannot report health.
			needsHealth := !isIOC(s) || facts(t).opsDefault[role(s)] != ""
			if needsHealth && (s.Healthcheck == nil || s.Healthcheck.Disable || len(s.Healthcheck.Test) == 0) {
				t.Errorf("%s: no healthcheck", name)
			}
		}
		if h := s.Healthcheck; h != nil && len(h.Test) > 0 {
			if !slices.Contains([]string{"CMD", "CMD-SHELL", "NONE"}, h.Test[0]) {
				t.Errorf("%s: healthcheck.test must start with CMD or CMD-SHELL, not %q", name, h.Test[0])
			}
			for _, d := range []string{h.Interval, h.Timeout, h.StartPeriod} {
				if _, err := time.ParseDuration(d); d != "" && err != nil {
					t.Errorf("%s: healthcheck duration %q: %v", name, d, err)
				}
			}
		}
		// Resource limits.
		if s.Deploy == nil || s.Deploy.Resources.Limits.CPUs == "" || s.Deploy.Resources.Limits.Memory == "" {
			t.Errorf("%s: needs deploy.resources.limits.cpus and .memory", name)
		} else {
			if c, err := strconv.ParseFloat(s.Deploy.Resources.Limits.CPUs, 64); err != nil || c <= 0 {
				t.Errorf("%s: cpus %q is not a positive number", name, s.Deploy.Resources.Limits.CPUs)
			}
			mem, err := composeBytes(s.Deploy.Resources.Limits.Memory)
			if err != nil {
				t.Errorf("%s: memory limit: %v", name, err)
			}
			if g := s.Environment["GOMEMLIMIT"]; g != "" {
				lim, err := goMemLimit(g)
				if err != nil {
					t.Errorf("%s: GOMEMLIMIT: %v", name, err)
				} else if mem > 0 && lim >= mem {
					t.Errorf("%s: GOMEMLIMIT %s is not below the memory limit %s: the kernel kills before the GC reacts", name, g, s.Deploy.Resources.Limits.Memory)
				}
			}
		}
		if s.StopGracePeriod != "" {
			if _, err := time.ParseDuration(s.StopGracePeriod); err != nil {
				t.Errorf("%s: stop_grace_period: %v", name, err)
			}
		}
		// depends_on: targets exist, conditions can be met.
		for dep, cond := range s.DependsOn {
			target, ok := cf.Services[dep]
			if !ok {
				t.Errorf("%s: depends_on %q, which is not a service", name, dep)
				continue
			}
			switch cond {
			case "service_started":
			case "service_healthy":
				if target.Healthcheck == nil || target.Healthcheck.Disable || len(target.Healthcheck.Test) == 0 {
					t.Errorf("%s: waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
				}
			case "service_completed_successfully":
				if !oneShot(target) {
					t.Errorf("%s: waits for %s to complete, but %s is not a one-shot job", name, dep, dep)
				}
			default:
				t.Errorf("%s: depends_on %s: unknown condition %q", name, dep, cond)
			}
			if len(target.Profiles) > 0 && !slices.ContainsFunc(s.Profiles, func(p string) bool { return slices.Contains(target.Profiles, p) }) {
				t.Errorf("%s: depends on %s, which only runs in profiles %v", name, dep, target.Profiles)
			}
		}
		// Volumes: named ones declared, bind sources present in the repository.
		for _, v := range s.Volumes {
			switch v.Type {
			case "volume":
				if v.Source == "" {
					t.Errorf("%s: anonymous volume at %s: name it so that its data survives `down`", name, v.Target)
					continue
				}
				usedVolumes[v.Source] = true
				if _, ok := cf.Volumes[v.Source]; !ok {
					t.Errorf("%s: volume %q is not declared under the top-level volumes:", name, v.Source)
				}
			case "bind":
				if filepath.IsAbs(v.Source) || strings.HasPrefix(v.Source, "~") {
					t.Errorf("%s: bind mount %s must be relative to the repository", name, v.Source)
				} else if _, err := os.Stat(repoPath(v.Source)); err != nil {
					t.Errorf("%s: bind mount source %s: %v", name, v.Source, err)
				}
			}
		}
		for _, p := range s.Ports {
			if _, err := strconv.Atoi(p.Target); err != nil {
				t.Errorf("%s: port target %q is not a number", name, p.Target)
			}
		}
	}
	for v := range cf.Volumes {
		if !usedVolumes[v] {
			t.Errorf("volume %s is declared but no service mounts it", v)
		}
	}
}

// The ioc services against the binary: subcommands, environment variables,
// configuration, ports, health checks, and the services they talk to.
func TestComposeIOCServicesMatchBinary(t *testing.T) {
	cf := loadCompose(t, composeEnv)
	f := facts(t)
	stages := parseDockerfile(t)
	final := stages[len(stages)-1]
	baked := imageFiles(stages)
	n := 0
	for name, s := range cf.Services {
		if !isIOC(s) {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			switch b := s.Build.(type) {
			case nil:
				t.Errorf("build: missing; every ioc service builds the one image from ./Dockerfile")
			case string:
				if path.Clean(b) != "." {
					t.Errorf("build: %q, want the repository root", b)
				}
			case map[string]any:
				if c, _ := b["context"].(string); path.Clean(c) != "." {
					t.Errorf("build.context: %q, want the repository root", c)
				}
			}
			if len(s.Entrypoint) > 0 {
				t.Errorf("entrypoint: overridden (%v); the Dockerfile's ENTRYPOINT is the ioc binary", s.Entrypoint)
			}
			r := role(s)
			if !f.subcommands[r] {
				t.Fatalf("command %v: %q is not an ioc subcommand (ioc --help lists %v)", []string(s.Command), r, keys(f.subcommands))
			}
			for k := range s.Environment {
				if strings.HasPrefix(k, "IOC_") && !f.envNames[k] {
					t.Errorf("environment: %s is not a variable the binary reads (cmd/ioc reads %v)", k, keys(f.envNames))
				}
			}
			eff := effective(t, name, s, baked)

			// The services this role talks to: compose services it waits for,
			// on a port they listen on.
			for _, key := range addressesUsed[r] {
				addrs := getStrings(eff, key)
				if len(addrs) == 0 {
					t.Errorf("%s: empty in the effective configuration", key)
				}
				for _, a := range addrs {
					host, port := hostPort(a)
					if _, ok := cf.Services[host]; !ok {
						t.Errorf("%s = %s: host %q is not a compose service", key, a, host)
						continue
					}
					if c := s.DependsOn[host]; c != "service_healthy" {
						t.Errorf("%s = %s: the service must depend on %s with condition service_healthy (has %q)", key, a, host, c)
					}
					if !listens(t, cf, host)[port] {
						t.Errorf("%s = %s: %s does not listen for clients on port %s (it does on %v)", key, a, host, port, keys(listens(t, cf, host)))
					}
				}
			}
			// Roles that read ClickHouse tables wait for the migration.
			if slices.Contains(addressesUsed[r], "clickhouse.addr") && r != "migrate" {
				ok := false
				for dep, c := range s.DependsOn {
					if oneShot(cf.Services[dep]) && role(cf.Services[dep]) == "migrate" && c == "service_completed_successfully" {
						ok = true
					}
				}
				if !ok {
					t.Errorf("uses ClickHouse but does not wait for the migrate service (condition service_completed_successfully)")
				}
			}
			// The device registry the role loads is in the image and parses.
			if r == "ingest" || r == "run" || r == "simulate" {
				key := map[string]string{"simulate": "simulate.registry_file"}[r]
				if key == "" {
					key = "ingest.registry_file"
				}
				p := getString(eff, key)
				src, ok := hostFile(s, p, baked)
				if !ok {
					t.Errorf("%s = %s: not in the image and not mounted", key, p)
				} else if reg, err := registry.Load(repoPath(src)); err != nil {
					t.Errorf("%s = %s (from %s): %v", key, p, src, err)
				} else if reg.Len() == 0 {
					t.Errorf("%s: %s declares no devices", key, src)
				}
			}

			// Published ports: only what the container listens on; the
			// dashboard's own port must be published.
			listening := map[string]bool{}
			if op := opsPort(f, r, eff); f.opsDefault[r] != "" && op != "" {
				listening[op] = true
			}
			dashPort := portOf(getString(eff, "dashboard.listen"))
			if r == "dashboard" || r == "run" {
				listening[dashPort] = true
				published := false
				for _, p := range s.Ports {
					published = published || p.Target == dashPort
				}
				if !published {
					t.Errorf("dashboard.listen is %s but the compose file publishes no port with target %s", getString(eff, "dashboard.listen"), dashPort)
				}
			}
			for _, p := range s.Ports {
				if !listening[p.Target] {
					t.Errorf("ports: target %s, but the role listens on %v", p.Target, keys(listening))
				}
			}

			// Graceful drain takes longer than Docker's default 10 s.
			if r == "ingest" || r == "stream" || r == "run" {
				d, _ := time.ParseDuration(s.StopGracePeriod)
				if d < 30*time.Second {
					t.Errorf("stop_grace_period %q: the %s role drains on SIGTERM; give it at least 30s", s.StopGracePeriod, r)
				}
			}

			// Health check: the binary in the image asks the role's own ops port.
			if f.opsDefault[r] == "" || s.Healthcheck == nil {
				return
			}
			h := s.Healthcheck.Test
			if len(h) < 3 || h[0] != "CMD" || len(final.entrypoint) == 0 || h[1] != final.entrypoint[0] {
				t.Errorf("healthcheck %v: want [CMD, %v, healthcheck, -url, http://127.0.0.1:<ops port>/readyz] (the runtime image has no shell)", []string(h), final.entrypoint)
				return
			}
			u, err := url.Parse(flagValue(h[2:], "url"))
			if err != nil || u.Host == "" {
				t.Errorf("healthcheck %v: no -url", []string(h))
				return
			}
			if want := opsPort(f, r, eff); u.Port() != want {
				t.Errorf("healthcheck asks port %s, but the %s role serves /readyz on %s (ops.listen / IOC_OPS_LISTEN / role default)", u.Port(), r, want)
			}
			if u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" {
				t.Errorf("healthcheck asks %s; a health check asks its own container", u.Host)
			}
			if u.Path != "/readyz" && u.Path != "/healthz" {
				t.Errorf("healthcheck asks %s; the ops endpoint serves /readyz and /healthz", u.Path)
			}
			t.Run("healthcheck-subcommand", func(t *testing.T) {
				if !f.subcommands[h[2]] {
					t.Errorf("healthcheck runs `ioc %s`, which the binary does not have (ioc --help lists %v).\n"+
						"The runtime image is distroless (no shell, no curl): the binary needs a subcommand\n"+
						"`ioc %s -url URL` that GETs URL and exits 0 on a 2xx answer, 1 otherwise.", h[2], keys(f.subcommands), h[2])
				}
			})
		})
	}
	if n == 0 {
		t.Fatal("no service runs the sonla-ioc/ioc image")
	}
}

// The container config on its own (no environment) names the compose
// services, not loopback: the IOC_* variables are a convenience, not a crutch.
func TestContainerConfigNamesComposeServices(t *testing.T) {
	cf := loadCompose(t, composeEnv)
	stages := parseDockerfile(t)
	cfgPath := stages[len(stages)-1].env["IOC_CONFIG"]
	src, ok := imageFiles(stages)[cfgPath]
	if cfgPath == "" || !ok {
		t.Fatalf("Dockerfile: ENV IOC_CONFIG (%q) must name a file the final stage copies from the repository", cfgPath)
	}
	eff := checkConfig(t, src, repoPath(src), nil)
	for _, key := range []string{"ingest.mqtt.url", "simulate.mqtt_url", "kafka.brokers", "clickhouse.addr"} {
		for _, a := range getStrings(eff, key) {
			if host, _ := hostPort(a); cf.Services[host] == nil {
				t.Errorf("%s: %s = %s; inside the compose network the host must be a service name", src, key, a)
			}
		}
	}
	// Without IOC_CLICKHOUSE_USER the file's account is the pipeline's
	// least-privilege one, never the administrative account the ClickHouse
	// container creates.
	for name, s := range cf.Services {
		if strings.HasPrefix(s.Image, "clickhouse/clickhouse-server:") {
			if u := getString(eff, "clickhouse.username"); u != clickHouseAccounts["stream"] || u == s.Environment["CLICKHOUSE_USER"] {
				t.Errorf("%s: clickhouse.username %q; want %s, not service %s's administrative %q", src, u, clickHouseAccounts["stream"], name, s.Environment["CLICKHOUSE_USER"])
			}
		}
	}
	// Every ioc service passes the same file as the image's default.
	for name, s := range cf.Services {
		if p := flagValue(s.Command, "config"); isIOC(s) && p != "" && p != cfgPath {
			t.Errorf("%s: -config %s, but the image's IOC_CONFIG is %s", name, p, cfgPath)
		}
	}
}

// Secrets: no password or key in an environment variable or in the file,
// none with a default; each is a Compose secret, a file of IOC_SECRETS_DIR,
// mounted only in the services that read it. One ClickHouse account per
// role, the administrative one (the image's CLICKHOUSE_USER) for the migrate
// service alone, the others created at the server's first start from their
// own secret with their own grants; ingest with its own MQTT account.
func TestComposeSecrets(t *testing.T) {
	// The file as written, before any substitution.
	b, err := os.ReadFile(repoPath("docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Services map[string]struct {
			Environment envMap `yaml:"environment"`
		} `yaml:"services"`
		Secrets map[string]map[string]string `yaml:"secrets"`
	}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for name, s := range raw.Services {
		for k, v := range s.Environment {
			if secretEnvRE.MatchString(k) && !(strings.HasSuffix(k, "_FILE") && strings.HasPrefix(v, "/run/secrets/")) {
				t.Errorf("%s: %s = %q; a password or key is a Compose secret (a file under /run/secrets), never an environment variable", name, k, v)
			}
		}
	}
	requiredRE := regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]+\}/`)
	if len(raw.Secrets) == 0 {
		t.Fatal("docker-compose.yml: no top-level secrets")
	}
	for name, sec := range raw.Secrets {
		f := sec["file"]
		m := requiredRE.FindStringSubmatch(f)
		if m == nil || len(sec) != 1 {
			t.Errorf("secret %s: %v; want only file: ${VAR:?what to do}/%s (a required folder, no default, no environment source)", name, sec, name)
			continue
		}
		// Unset, Compose stops with the message.
		if _, err := interpolate(f, map[string]string{}); err == nil || !strings.Contains(err.Error(), m[1]) {
			t.Errorf("secret %s: with %s unset: %v, want an error naming it", name, m[1], err)
		}
	}

	cf := loadCompose(t, composeEnv)
	var ch *service
	for _, s := range cf.Services {
		if strings.HasPrefix(s.Image, "clickhouse/clickhouse-server:") {
			ch = s
		}
	}
	if ch == nil {
		t.Fatal("no clickhouse service")
	}
	admin := ch.Environment["CLICKHOUSE_USER"]
	if admin == "" || admin == "default" || ch.Environment["CLICKHOUSE_PASSWORD"] != "" {
		t.Errorf("clickhouse: CLICKHOUSE_USER %q and CLICKHOUSE_PASSWORD %q: want a named administrative account with its password from CLICKHOUSE_PASSWORD_FILE", admin, ch.Environment["CLICKHOUSE_PASSWORD"])
	}
	chSecrets := composeSecrets(t, "clickhouse", ch)
	adminSecret := chSecrets[ch.Environment["CLICKHOUSE_PASSWORD_FILE"]]
	if adminSecret == "" {
		t.Errorf("clickhouse: CLICKHOUSE_PASSWORD_FILE %q is not a secret mounted in the service", ch.Environment["CLICKHOUSE_PASSWORD_FILE"])
	}
	created := initAccounts(t, ch, chSecrets) // account → secret its password comes from

	baked := imageFiles(parseDockerfile(t))
	users := map[string][]string{}
	for name, s := range cf.Services {
		if !isIOC(s) {
			continue
		}
		r := role(s)
		eff := effective(t, name, s, baked)
		mounted := composeSecrets(t, name, s)
		used := usedSecretFiles(r, eff)
		wanted := map[string]bool{}
		for k, p := range used {
			if mounted[p] == "" {
				t.Errorf("%s: %s %s is not a secret mounted in the service", name, k, p)
			}
			wanted[p] = true
		}
		for p, src := range mounted {
			if !wanted[p] {
				t.Errorf("%s: mounts secret %s at %s, which the %s role does not read", name, src, p, r)
			}
		}
		if usesClickHouse(r) {
			u := getString(eff, "clickhouse.username")
			users[u] = append(users[u], name)
			secret := mounted[used["clickhouse.password_file"]]
			switch {
			case getString(eff, "clickhouse.password") != "":
				t.Errorf("%s: clickhouse.password is set; the password is a secret file (clickhouse.password_file)", name)
			case r == "migrate" && (u != admin || secret != adminSecret):
				t.Errorf("%s: migrates as %s with secret %s; want the administrative account %s with %s", name, u, secret, admin, adminSecret)
			case r != "migrate" && u == admin:
				t.Errorf("%s: the %s role connects as the administrative account %s (schema, grants): give it its own", name, r, u)
			case r != "migrate" && created[u] == "":
				t.Errorf("%s: connects as %s, which deploy/docker/clickhouse/initdb does not create", name, u)
			case r != "migrate" && created[u] != secret:
				t.Errorf("%s: account %s is created from secret %s but the service mounts %s", name, u, created[u], secret)
			}
			if want, ok := clickHouseAccounts[r]; ok && u != want {
				t.Errorf("%s: connects to ClickHouse as %s, want %s", name, u, want)
			}
		}
		if r == "ingest" {
			u := getString(eff, "ingest.mqtt.username")
			if u == "" || slices.Contains(getStrings(eff, "ingest.partners"), u) || used["ingest.mqtt.password_file"] == "" {
				t.Errorf("%s: MQTT account %q with password file %q: ingest has an account of its own, its password a secret", name, u, used["ingest.mqtt.password_file"])
			}
		}
		if r == "dashboard" && used["dashboard.auth.session_key_file"] == "" {
			t.Errorf("%s: no dashboard.auth.session_key_file: sessions end at every restart", name)
		}
	}
	for u, svcs := range users {
		if len(svcs) > 1 {
			t.Errorf("ClickHouse account %s is shared by %v: one account per role", u, svcs)
		}
	}
}

// composeSecrets maps the files a service's secrets appear as
// (/run/secrets/<target>) to the secrets' names.
func composeSecrets(t *testing.T, name string, s *service) map[string]string {
	t.Helper()
	out := map[string]string{}
	list, _ := s.Secrets.([]any)
	if s.Secrets != nil && list == nil {
		t.Fatalf("%s: secrets must be a list", name)
	}
	for _, e := range list {
		var src, target string
		switch v := e.(type) {
		case string:
			src, target = v, v
		case map[string]any:
			src, _ = v["source"].(string)
			target, _ = v["target"].(string)
			if target == "" {
				target = src
			}
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		out[target] = src
	}
	return out
}

// initAccounts reads the ClickHouse init script: the accounts it creates
// from which mounted secret, and their grants (pipeline and analysts never
// reach the security database, analysts only read).
func initAccounts(t *testing.T, ch *service, chSecrets map[string]string) map[string]string {
	t.Helper()
	src, ok := hostFile(ch, "/docker-entrypoint-initdb.d/10-ioc-accounts.sh", nil)
	if !ok {
		t.Fatal("clickhouse: /docker-entrypoint-initdb.d/10-ioc-accounts.sh is not mounted from the repository")
	}
	b, err := os.ReadFile(repoPath(src))
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]string{}
	for _, m := range regexp.MustCompile(`(ioc_\w+):(clickhouse-[\w-]+)`).FindAllStringSubmatch(string(b), -1) {
		m[2] = "/run/secrets/" + m[2]
		if chSecrets[m[2]] == "" {
			t.Errorf("%s: account %s from %s, which is not a secret of the clickhouse service", src, m[1], m[2])
		}
		created[m[1]] = chSecrets[m[2]]
	}
	grants := map[string][]string{}
	for _, m := range regexp.MustCompile(`GRANT ([A-Z, ]+) ON (\S+) TO (\w+);`).FindAllStringSubmatch(string(b), -1) {
		grants[m[3]] = append(grants[m[3]], m[1]+" ON "+m[2])
	}
	for _, u := range []string{"ioc_pipeline", "ioc_dashboard", "ioc_analyst"} {
		if created[u] == "" || len(grants[u]) == 0 {
			t.Errorf("%s: does not create %s with its grants (created %v, grants %v)", src, u, keys(created), grants)
		}
	}
	for _, g := range append(grants["ioc_pipeline"], grants["ioc_analyst"]...) {
		if strings.Contains(g, "_security") || strings.Contains(g, "*.*") {
			t.Errorf("%s: GRANT %s: the pipeline and analysts never reach the security database", src, g)
		}
	}
	for _, g := range grants["ioc_analyst"] {
		if !strings.HasPrefix(g, "SELECT ON ") {
			t.Errorf("%s: GRANT %s to ioc_analyst: analysts only read", src, g)
		}
	}
	bySecret := map[string]string{}
	for u, sec := range created {
		if other, dup := bySecret[sec]; dup {
			t.Errorf("%s: %s and %s share the password secret %s", src, other, u, sec)
		}
		bySecret[sec] = u
	}
	return created
}

// The backing services: data on named volumes, settings the pipeline relies on.
func TestComposeBackingServices(t *testing.T) {
	cf := loadCompose(t, composeEnv)
	var seen []string
	onNamedVolume := func(name string, s *service, dir string) {
		t.Helper()
		for _, v := range s.Volumes {
			if rel, err := filepath.Rel(v.Target, dir); v.Type == "volume" && v.Source != "" && err == nil && !strings.HasPrefix(rel, "..") {
				return
			}
		}
		t.Errorf("%s: data directory %s is not on a named volume (lost with the container)", name, dir)
	}
	for name, s := range cf.Services {
		switch {
		case strings.HasPrefix(s.Image, "eclipse-mosquitto:"):
			seen = append(seen, "mosquitto")
			conf := mosquittoConf(t, s)
			if len(conf["persistence"]) == 0 || conf["persistence"][0] != "true" {
				t.Errorf("%s: persistence must be true (the ingest session and queued QoS 1 messages survive a restart)", name)
			}
			if loc := conf["persistence_location"]; len(loc) == 0 {
				t.Errorf("%s: persistence_location is not set", name)
			} else {
				onNamedVolume(name, s, loc[0])
			}
			if q := conf["max_queued_messages"]; len(q) == 0 {
				t.Errorf("%s: max_queued_messages unset: the default 1000 silently drops while ingest is away", name)
			} else if n, err := strconv.Atoi(q[0]); err != nil || (n != 0 && n < 100000) {
				t.Errorf("%s: max_queued_messages %s is too small (0 or at least 100000)", name, q[0])
			}
			if q := conf["max_inflight_messages"]; len(q) == 0 {
				t.Errorf("%s: max_inflight_messages unset (default 20 throttles QoS 1)", name)
			}
			if len(conf["listener"]) == 0 {
				t.Errorf("%s: no listener: mosquitto 2 then only listens on loopback", name)
			}
			for _, p := range s.Ports {
				if !listens(t, cf, name)[p.Target] {
					t.Errorf("%s: publishes %s, but listens on %v", name, p.Target, keys(listens(t, cf, name)))
				}
			}
		case strings.HasPrefix(s.Image, "apache/kafka:"):
			seen = append(seen, "kafka")
			e := s.Environment
			if v, err := versionAtLeast(s.Image, 4, 0, 1); err != nil || !v {
				t.Errorf("%s: image %s: kafka-go consumer groups need Kafka 4.0.1 or newer (%v)", name, s.Image, err)
			}
			if !strings.Contains(e["KAFKA_PROCESS_ROLES"], "broker") || !strings.Contains(e["KAFKA_PROCESS_ROLES"], "controller") {
				t.Errorf("%s: KAFKA_PROCESS_ROLES %q: single-node KRaft runs broker,controller", name, e["KAFKA_PROCESS_ROLES"])
			}
			if id, err := base64.RawURLEncoding.DecodeString(e["CLUSTER_ID"]); err != nil || len(id) != 16 {
				t.Errorf("%s: CLUSTER_ID %q is not 16 bytes of URL-safe base64 without padding", name, e["CLUSTER_ID"])
			}
			listeners := map[string]string{} // listener name → port
			for _, l := range strings.Split(e["KAFKA_LISTENERS"], ",") {
				if u, err := url.Parse(strings.TrimSpace(l)); err == nil {
					listeners[strings.ToUpper(u.Scheme)] = u.Port()
				}
			}
			ctrl := e["KAFKA_CONTROLLER_LISTENER_NAMES"]
			voters := strings.Split(e["KAFKA_CONTROLLER_QUORUM_VOTERS"], ",")
			if len(voters) != 1 {
				t.Errorf("%s: KAFKA_CONTROLLER_QUORUM_VOTERS %q: one node, one voter", name, e["KAFKA_CONTROLLER_QUORUM_VOTERS"])
			} else if id, addr, _ := strings.Cut(voters[0], "@"); id != e["KAFKA_NODE_ID"] || portOf(addr) != listeners[ctrl] || listeners[ctrl] == "" {
				t.Errorf("%s: voter %q must be KAFKA_NODE_ID %s @ the %s listener's port %s", name, voters[0], e["KAFKA_NODE_ID"], ctrl, listeners[ctrl])
			}
			for _, l := range strings.Split(e["KAFKA_ADVERTISED_LISTENERS"], ",") {
				u, err := url.Parse(strings.TrimSpace(l))
				if err != nil || listeners[strings.ToUpper(u.Scheme)] != u.Port() {
					t.Errorf("%s: advertised listener %q has no matching KAFKA_LISTENERS entry", name, l)
				}
			}
			for _, k := range []string{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "KAFKA_DEFAULT_REPLICATION_FACTOR"} {
				if e[k] != "1" {
					t.Errorf("%s: %s = %q; one broker cannot hold more than 1 replica", name, k, e[k])
				}
			}
			// Topics the pipeline creates and auto-created ones get the same partitions.
			eff := checkConfig(t, "container config", repoPath(imageFiles(parseDockerfile(t))[parseDockerfileEnv(t)["IOC_CONFIG"]]), nil)
			if p := getString(eff, "kafka.partitions"); e["KAFKA_NUM_PARTITIONS"] != p {
				t.Errorf("%s: KAFKA_NUM_PARTITIONS %q differs from the pipeline's kafka.partitions %s", name, e["KAFKA_NUM_PARTITIONS"], p)
			}
			if d := e["KAFKA_LOG_DIRS"]; d == "" {
				t.Errorf("%s: KAFKA_LOG_DIRS unset: the image default is under /tmp", name)
			} else {
				onNamedVolume(name, s, d)
			}
		case strings.HasPrefix(s.Image, "clickhouse/clickhouse-server:"):
			seen = append(seen, "clickhouse")
			if v, err := versionAtLeast(s.Image, 24, 0, 0); err != nil || !v {
				t.Errorf("%s: image %s: current releases (24.x or newer) are the target (%v)", name, s.Image, err)
			}
			onNamedVolume(name, s, "/var/lib/clickhouse")
			if s.Ulimits["nofile"] == nil {
				t.Errorf("%s: ulimits.nofile not raised (ClickHouse wants 262144)", name)
			}
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"clickhouse", "kafka", "mosquitto"}) {
		t.Errorf("backing services found: %v, want one each of clickhouse, kafka, mosquitto", seen)
	}
}

// The Dockerfile: Go version, static build, what the final image holds and runs.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	final := stages[len(stages)-1]
	f := facts(t)

	gomod, err := os.ReadFile(repoPath("go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod: no go line")
	}
	want := string(m[1]) + "." + string(m[2])
	byName := map[string]*dockerStage{}
	var goStages int
	for _, st := range stages {
		if st.name != "" {
			byName[st.name] = st
		}
		if img, ok := strings.CutPrefix(st.base, "golang:"); ok {
			goStages++
			if v, _, _ := strings.Cut(img, "-"); v != want && !strings.HasPrefix(v, want+".") {
				t.Errorf("Dockerfile: FROM %s, but go.mod says go %s", st.base, want)
			}
		}
	}
	if goStages == 0 {
		t.Error("Dockerfile: no golang build stage")
	}

	// ENTRYPOINT: the ioc binary, built from ./cmd/ioc in an earlier stage.
	if final.shellEntry || len(final.entrypoint) == 0 {
		t.Fatal("Dockerfile: the final stage needs an exec-form ENTRYPOINT [\"/path/to/ioc\"]")
	}
	var built bool
	for _, c := range final.copies {
		if c.dest != final.entrypoint[0] || c.from == "" {
			continue
		}
		st := byName[c.from]
		if st == nil {
			t.Errorf("Dockerfile: COPY --from=%s: no such stage", c.from)
			continue
		}
		for _, r := range st.runs {
			if strings.Contains(r, "go build") && strings.Contains(r, "-o "+c.sources[0]) && cmdIOC.MatchString(r) {
				built = true
				if !strings.Contains(r, "-trimpath") {
					t.Error("Dockerfile: go build without -trimpath")
				}
				if !regexp.MustCompile(`-tags[= ]\S*timetzdata`).MatchString(r) {
					t.Error("Dockerfile: go build without -tags timetzdata: Asia/Ho_Chi_Minh must resolve in any runtime image")
				}
				if (strings.Contains(final.base, "distroless/static") || final.base == "scratch") &&
					st.env["CGO_ENABLED"] != "0" && !strings.Contains(r, "CGO_ENABLED=0") {
					t.Errorf("Dockerfile: %s has no libc; build with CGO_ENABLED=0", final.base)
				}
			}
		}
	}
	if !built {
		t.Errorf("Dockerfile: ENTRYPOINT %s is not a binary copied from a stage that runs `go build -o ... ./cmd/ioc`", final.entrypoint[0])
	}

	// Non-root at run time.
	if u := final.user; u == "" && !strings.HasSuffix(final.base, ":nonroot") || u == "root" || u == "0" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root:") {
		t.Errorf("Dockerfile: final stage runs as root (USER %q, FROM %s)", u, final.base)
	}
	for k := range final.env {
		if strings.HasPrefix(k, "IOC_") && !f.envNames[k] {
			t.Errorf("Dockerfile: ENV %s is not a variable the binary reads", k)
		}
	}
	// Ports: the dashboard and every role's ops port.
	wantPorts := []string{"8080"}
	for _, a := range f.opsDefault {
		wantPorts = append(wantPorts, portOf(a))
	}
	for _, p := range wantPorts {
		if !exposes(final.expose, p) {
			t.Errorf("Dockerfile: EXPOSE %v does not include %s", final.expose, p)
		}
	}

	// Build-context files: present, and not dropped by .dockerignore.
	ign := loadDockerignore(t)
	for _, st := range stages {
		for _, c := range st.copies {
			if c.from != "" {
				continue
			}
			for _, src := range c.sources {
				if matches, _ := filepath.Glob(repoPath(src)); len(matches) == 0 {
					t.Errorf("Dockerfile: COPY %s: not in the repository", src)
				} else if src != "." && ign.excluded(path.Clean(src)) {
					t.Errorf("Dockerfile: COPY %s, but .dockerignore excludes it", src)
				}
			}
		}
		for _, r := range st.runs {
			if p := flagValue(strings.Fields(r), "config"); p != "" && !filepath.IsAbs(p) {
				if _, err := os.Stat(repoPath(p)); err != nil {
					t.Errorf("Dockerfile: RUN %s: %v", r, err)
				} else if ign.excluded(p) {
					t.Errorf("Dockerfile: RUN uses %s, but .dockerignore excludes it", p)
				}
			}
		}
	}
}

// cmdIOC matches the ioc main package as a go build argument.
var cmdIOC = regexp.MustCompile(`(^|\s)(\./)?cmd/ioc/?(\s|$)`)

func exposes(list []string, port string) bool {
	for _, e := range list {
		e, _, _ = strings.Cut(e, "/")
		lo, hi, isRange := strings.Cut(e, "-")
		if !isRange {
			hi = lo
		}
		p, _ := strconv.Atoi(port)
		l, _ := strconv.Atoi(lo)
		h, _ := strconv.Atoi(hi)
		if p >= l && p <= h {
			return true
		}
	}
	return false
}

// .dockerignore keeps secrets and bulk out of the build context and keeps
// everything `go build ./cmd/ioc` reads in it.
func TestDockerignore(t *testing.T) {
	ign := loadDockerignore(t)
	for _, p := range []string{".env", ".git/config", ".local/run/kafka.pid", "bin/ioc"} {
		if !ign.excluded(p) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
	cmd := exec.Command(goTool(), "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}}|{{.}}{{end}}{{range .EmbedFiles}}|{{.}}{{end}}{{end}}{{end}}`, "./cmd/ioc")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(l, "|")
		rel, err := filepath.Rel(repoRoot, parts[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range parts[1:] {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, p := range needed {
		if ign.excluded(p) {
			t.Errorf(".dockerignore excludes %s, which go build ./cmd/ioc needs", p)
		}
	}
}

type dockerignore []struct {
	pattern string
	negate  bool
}

func loadDockerignore(t *testing.T) dockerignore {
	t.Helper()
	b, err := os.ReadFile(repoPath(".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var d dockerignore
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		neg := strings.HasPrefix(l, "!")
		l = strings.TrimPrefix(l, "!")
		if strings.Contains(l, "**") {
			t.Fatalf(".dockerignore: %q: this test's matcher does not do **", l)
		}
		l = strings.TrimPrefix(path.Clean("/"+l), "/")
		d = append(d, struct {
			pattern string
			negate  bool
		}{l, neg})
	}
	return d
}

// excluded applies Docker's rules: a pattern matches a path or any of its
// parent directories; the last matching line wins.
func (d dockerignore) excluded(p string) bool {
	p = path.Clean(p)
	ex := false
	for _, r := range d {
		for q := p; q != "." && q != "/"; q = path.Dir(q) {
			if ok, _ := path.Match(r.pattern, q); ok {
				ex = !r.negate
				break
			}
		}
	}
	return ex
}

// ---------------------------------------------------------------------------
// Small helpers.

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// composeBytes parses a compose byte value: 512M, 1G, 1.5g, 1024k, 100b.
func composeBytes(s string) (int64, error) {
	m := regexp.MustCompile(`^(?i)(\d+(?:\.\d+)?)\s*([kmg]?)b?$`).FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a byte value like 512M or 1G", s)
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[strings.ToLower(m[2])]
	return int64(f * mult), nil
}

// goMemLimit parses a GOMEMLIMIT value: a number of bytes with B, KiB, MiB, GiB or TiB.
func goMemLimit(s string) (int64, error) {
	m := regexp.MustCompile(`^(\d+)(B|KiB|MiB|GiB|TiB)?$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not like 450MiB", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	mult := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[m[2]]
	return n * mult, nil
}

// versionAtLeast compares the numeric tag of image (repo:1.2.3[-suffix]) with a minimum.
func versionAtLeast(image string, min ...int) (bool, error) {
	tag := image[strings.LastIndex(image, ":")+1:]
	tag, _, _ = strings.Cut(tag, "-")
	parts := strings.Split(tag, ".")
	for i, want := range min {
		if i >= len(parts) {
			return true, nil // 25.8 covers every 25.8.x
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return false, fmt.Errorf("tag %q is not a version", tag)
		}
		if n != want {
			return n > want, nil
		}
	}
	return true, nil
}
