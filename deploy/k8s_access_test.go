package deploy_test

// Who may do what, in the Kubernetes manifests (deploy/k8s and the rendered
// Helm chart): one ClickHouse account per role and none of them the
// migration's, every password and key a Secret mounted as a file (only the
// keys a pod uses), the dashboard replicas sharing one session key, and
// trust_proxy exactly when an ingress is in front, with the web port closed
// to everyone but the trusted proxies (docs/security.md).

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podConfig is one workload with the configuration its container runs with
// (ioc check-config with the pod's environment).
type podConfig struct {
	w    workload
	c    *corev1.Container
	role string
	eff  map[string]any
}

// clickHouseAccounts are the accounts the roles must use: the ClickHouse
// grants (stream/schema/sql, docs/security.md) are written for them. The
// migrate Job's administrative account is checked apart: it is whatever
// the Job uses, and nobody else may use it.
var clickHouseAccounts = map[string]string{"stream": "ioc_pipeline", "dashboard": "ioc_dashboard"}

// usesClickHouse reports whether a role connects to ClickHouse.
func usesClickHouse(role string) bool {
	return slices.Contains(addressesUsed[role], "clickhouse.addr") || role == "retention"
}

// secretFiles are the configuration keys that name a file holding a secret.
var secretFiles = []string{"clickhouse.password_file", "ingest.mqtt.password_file", "dashboard.auth.session_key_file",
	"dashboard.auth.oidc.client_secret_file", "kafka.sasl.password_file"}

// usedSecretFiles lists the secret files a role reads: the ClickHouse
// password only if it connects to ClickHouse, the MQTT one only in ingest,
// the session key and OIDC secret only in the dashboard.
func usedSecretFiles(role string, eff map[string]any) map[string]string {
	out := map[string]string{}
	for _, k := range secretFiles {
		v := getString(eff, k)
		if v == "" {
			continue
		}
		switch {
		case strings.HasPrefix(k, "clickhouse.") && !usesClickHouse(role),
			strings.HasPrefix(k, "ingest.") && role != "ingest" && role != "run",
			strings.HasPrefix(k, "dashboard.") && role != "dashboard" && role != "run",
			strings.HasPrefix(k, "kafka.") && (role == "migrate" || role == "retention"):
			continue
		}
		out[k] = v
	}
	return out
}

// mountedSecret maps a path inside a container to a key of a mounted Secret.
func mountedSecret(pod *corev1.PodSpec, c *corev1.Container, p string) (secret, key string, ok bool) {
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, p)
		if err != nil || strings.HasPrefix(rel, "..") || rel == "." || m.SubPath != "" {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			if len(v.Secret.Items) == 0 {
				return v.Secret.SecretName, rel, true
			}
			for _, it := range v.Secret.Items {
				if it.Path == rel {
					return v.Secret.SecretName, it.Key, true
				}
			}
		}
	}
	return "", "", false
}

// secretMounts lists the Secret keys a container can read ("name/key"),
// with "name/*" for a Secret mounted whole.
func secretMounts(pod *corev1.PodSpec, c *corev1.Container) []string {
	var out []string
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			if len(v.Secret.Items) == 0 {
				out = append(out, v.Secret.SecretName+"/*")
			}
			for _, it := range v.Secret.Items {
				out = append(out, v.Secret.SecretName+"/"+it.Key)
			}
		}
	}
	return out
}

var secretEnvRE = regexp.MustCompile(`PASSWORD|SECRET|TOKEN|KEY`)

func checkK8sAccess(objs []k8sObject, pods []podConfig) []string {
	var problems []string
	bad := func(o fmt.Stringer, format string, args ...any) {
		problems = append(problems, o.String()+": "+fmt.Sprintf(format, args...))
	}
	accountKey := map[string]string{} // ClickHouse account → Secret key of its password
	keyAccount := map[string]string{} // and back
	users := map[string][]string{}    // ClickHouse account → roles using it
	var admin string
	for _, p := range pods {
		pod := &p.w.pod.Spec
		// Secrets reach the process as files, never through the environment
		// (which the runtime shows in `kubectl describe`, crash dumps and /proc).
		for _, e := range p.c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil || secretEnvRE.MatchString(e.Name) && e.Name != "GOMEMLIMIT" {
				bad(p.w, "env %s: a secret in an environment variable; mount the Secret as a file and name it in the config (password_file, session_key_file)", e.Name)
			}
		}
		used := usedSecretFiles(p.role, p.eff)
		wanted := map[string]bool{}
		for k, path := range used {
			sec, key, ok := mountedSecret(pod, p.c, path)
			if !ok {
				bad(p.w, "%s %s is not a key of a Secret mounted in the container", k, path)
				continue
			}
			wanted[sec+"/"+key] = true
			if k == "clickhouse.password_file" {
				u := getString(p.eff, "clickhouse.username")
				if prev, ok := accountKey[u]; ok && prev != sec+"/"+key {
					bad(p.w, "ClickHouse account %s has its password in %s here and in %s elsewhere", u, sec+"/"+key, prev)
				}
				if other, ok := keyAccount[sec+"/"+key]; ok && other != u {
					bad(p.w, "Secret key %s holds the password of %s and of %s: one key per account", sec+"/"+key, other, u)
				}
				accountKey[u], keyAccount[sec+"/"+key] = sec+"/"+key, u
			}
		}
		for _, m := range secretMounts(pod, p.c) {
			if !wanted[m] {
				bad(p.w, "mounts Secret key %s, which the %s role does not read: mount only the keys it needs (items)", m, p.role)
			}
		}
		if usesClickHouse(p.role) {
			u := getString(p.eff, "clickhouse.username")
			users[u] = append(users[u], p.role)
			if getString(p.eff, "clickhouse.password") != "" {
				bad(p.w, "clickhouse.password is set (IOC_CLICKHOUSE_PASSWORD or the config); use clickhouse.password_file")
			}
			if used["clickhouse.password_file"] == "" {
				bad(p.w, "no clickhouse.password_file: the %s account needs its password from a mounted Secret", u)
			}
			if u == "" || u == "default" {
				bad(p.w, "connects to ClickHouse as %q; each role has an account of its own", u)
			}
			if want, ok := clickHouseAccounts[p.role]; ok && u != want {
				bad(p.w, "connects to ClickHouse as %s, want %s (the account the grants are written for)", u, want)
			}
			if p.role == "migrate" {
				admin = u
			}
		} else if getString(p.eff, "clickhouse.password") != "" {
			bad(p.w, "the %s role does not use ClickHouse but is given a ClickHouse password", p.role)
		}
		if p.role == "ingest" {
			u := getString(p.eff, "ingest.mqtt.username")
			if u == "" || slices.Contains(getStrings(p.eff, "ingest.partners"), u) {
				bad(p.w, "ingest.mqtt.username %q: ingest has an MQTT account of its own, not a partner's", u)
			}
			if used["ingest.mqtt.password_file"] == "" || getString(p.eff, "ingest.mqtt.password") != "" {
				bad(p.w, "ingest's MQTT password must come from ingest.mqtt.password_file (a mounted Secret key)")
			}
		}
		if p.role == "dashboard" {
			if used["dashboard.auth.session_key_file"] == "" {
				bad(p.w, "dashboard.auth.session_key_file unset: each replica makes a key of its own and refuses the others' session cookies")
			}
			if getString(p.eff, "dashboard.auth.dev_open") == "true" {
				bad(p.w, "dashboard.auth.dev_open is on: the wall is open to anyone")
			}
		}
	}
	for u, rs := range users {
		if admin != "" && u == admin && (len(rs) > 1 || rs[0] != "migrate") {
			problems = append(problems, fmt.Sprintf("ClickHouse account %s (the migrate Job's, which may change the schema) is also used by %v", u, rs))
		}
		if len(rs) > 1 && u != admin {
			problems = append(problems, fmt.Sprintf("ClickHouse account %s is shared by the roles %v: one account per role", u, rs))
		}
	}
	if admin == "" {
		problems = append(problems, "no migrate Job with a ClickHouse account of its own")
	}
	return append(problems, checkK8sProxy(objs, pods)...)
}

// checkK8sProxy: trust_proxy is on exactly when an Ingress routes to the
// wall, and then only the trusted proxies can reach the web port.
func checkK8sProxy(objs []k8sObject, pods []podConfig) []string {
	var problems []string
	for _, p := range pods {
		if p.role != "dashboard" {
			continue
		}
		trust := getString(p.eff, "dashboard.auth.trust_proxy") == "true"
		web := portOf(getString(p.eff, "dashboard.listen"))
		webPort, _ := containerPort(p.c, intstr.Parse(web))
		// Services selecting the dashboard, and Ingresses routing to them.
		fronted := false
		for _, o := range objs {
			ing, ok := o.obj.(*networkingv1.Ingress)
			if !ok {
				continue
			}
			var backends []*networkingv1.IngressServiceBackend
			if ing.Spec.DefaultBackend != nil && ing.Spec.DefaultBackend.Service != nil {
				backends = append(backends, ing.Spec.DefaultBackend.Service)
			}
			for _, r := range ing.Spec.Rules {
				if r.HTTP == nil {
					continue
				}
				for _, path := range r.HTTP.Paths {
					if path.Backend.Service != nil {
						backends = append(backends, path.Backend.Service)
					}
				}
			}
			for _, b := range backends {
				for _, so := range objs {
					svc, ok := so.obj.(*corev1.Service)
					if ok && svc.Name == b.Name && selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, p.w.pod.Labels) {
						fronted = true
					}
				}
			}
		}
		switch {
		case fronted && !trust:
			problems = append(problems, fmt.Sprintf("%s: an Ingress routes to the wall but dashboard.auth.trust_proxy is off: every user would share the proxy's address (one sign-in rate limit for all, the proxy in the audit log)", p.w))
		case trust && !fronted:
			problems = append(problems, fmt.Sprintf("%s: dashboard.auth.trust_proxy is on but no Ingress routes to the wall: clients could forge X-Forwarded-For", p.w))
		}
		if !trust {
			continue
		}
		// Who may reach the web port: some policy must select the pods, and
		// every rule admitting the web port must name its sources (the
		// trusted proxies), none of them "anywhere".
		isolated := false
		for _, o := range objs {
			np, ok := o.obj.(*networkingv1.NetworkPolicy)
			if !ok || !selects(&np.Spec.PodSelector, p.w.pod.Labels) {
				continue
			}
			if slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || len(np.Spec.PolicyTypes) == 0 {
				isolated = true
			}
			for _, rule := range np.Spec.Ingress {
				covers := len(rule.Ports) == 0
				for _, port := range rule.Ports {
					if port.Port == nil {
						covers = true
					} else if n, ok := containerPort(p.c, *port.Port); ok && n == webPort {
						covers = true
					}
				}
				if !covers {
					continue
				}
				if len(rule.From) == 0 {
					problems = append(problems, fmt.Sprintf("%s: admits anyone to the web port %s, but the wall trusts X-Forwarded-For (trust_proxy): list the proxies in from:", o, web))
				}
				for _, peer := range rule.From {
					if peer.IPBlock != nil && (peer.IPBlock.CIDR == "0.0.0.0/0" || peer.IPBlock.CIDR == "::/0") {
						problems = append(problems, fmt.Sprintf("%s: admits %s to the web port, but the wall trusts X-Forwarded-For (trust_proxy)", o, peer.IPBlock.CIDR))
					}
					if peer.IPBlock == nil && peer.NamespaceSelector == nil && peer.PodSelector == nil {
						problems = append(problems, fmt.Sprintf("%s: an empty peer admits everyone to the web port", o))
					}
				}
			}
		}
		if !isolated {
			problems = append(problems, fmt.Sprintf("%s: no NetworkPolicy restricts who reaches the web port, but the wall trusts X-Forwarded-For (trust_proxy)", p.w))
		}
	}
	return problems
}
