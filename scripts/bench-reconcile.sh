#!/usr/bin/env bash
# Benchmark `shipline reconcile` against `kubectl apply --server-side` on 1,000 objects.
#
# Generates a local git repository (git init -b main) holding a kustomization of exactly 1,000
# objects in a fresh namespace bench-<random>-sl: 1 Namespace, 499 ConfigMaps, 250 Services,
# 250 Deployments (1 replica each), and measures, in one run:
#   (a) shipline reconcile --once --no-wait --prune, first apply: wall time, API requests by verb
#       (and peak RSS, with GNU time)
#   (b) the same command again (no-op): wall time, requests; mutating requests must be 0
#   (c) kubectl apply --server-side --field-manager=kubectl-bench of the same build (namespace
#       rewritten to bench-<random>-kc), first and second time: wall time, requests
#   (d) long-running `shipline reconcile --interval 10s --listen ...`: once /readyz is 200, the
#       status ConfigMap carries the commit and 3 more reconciles ran, idle VmRSS (the lowest of
#       samples every 0.2 s over 30 s) and again over the next 30 s (flat memory), what it is
#       made of (by mapping); the API requests one idle interval costs; exit code and time
#       after SIGTERM.
# Then prints a summary table with shipline/kubectl ratios, and deletes (trap, also on failure)
# the two namespaces, the sync's inventory/status ConfigMaps and Events in shipline-system, and
# the temporary directory.
#
# Requests are counted from the API server's audit log (SHIPLINE_TEST_KUBE_AUDIT_LOG, one JSON
# event per line): the lines appended during a step, stage ResponseComplete, user admin, the
# measured tool's User-Agent (shipline sends shipline/VERSION; kubectl sends kubectl/... and, through the
# gcloud dispatcher, kubectl-dispatcher/...), and only requests about the step's namespace, the
# sync's ConfigMaps and Events, or non-resource paths (discovery, /version, /openapi). The
# filters matter here: the test controller-manager also authenticates as admin (it creates
# ReplicaSets and Pods for the Deployments meanwhile), and e2e tests running at the same time
# use admin and no User-Agent either. "mutating" = every verb except get, list and watch.
#
# Needs: a cluster (KUBECONFIG) and its audit log; `source /tmp/shipline-services/env` provides
# both for the local test services (sourced automatically when KUBECONFIG is unset). Also git,
# kubectl, jq, curl.
#
# Environment:
#   SHIPLINE_BIN   the shipline binary (default: target/release/shipline when it exists, else
#                  target/debug/shipline, under ${CARGO_TARGET_DIR:-$HOME/.cache/shipline/target})
#   BENCH_KEEP=1   leave the namespaces and ConfigMaps in place
#   BENCH_FLAT_SECONDS  length of each of the two idle-RSS sampling windows (default 30)
#   BENCH_SMAPS=FILE    copy the idle reconciler's /proc/PID/smaps there (what each mapping holds)
#
# Usage: scripts/bench-reconcile.sh
set -euo pipefail

if [[ -z ${KUBECONFIG:-} && -f /tmp/shipline-services/env ]]; then
  # shellcheck disable=SC1091
  source /tmp/shipline-services/env
fi
: "${KUBECONFIG:?set KUBECONFIG (e.g. source /tmp/shipline-services/env)}"
AUDIT=${SHIPLINE_TEST_KUBE_AUDIT_LOG:?set SHIPLINE_TEST_KUBE_AUDIT_LOG to the API server audit log}
[[ -r $AUDIT ]] || { echo "audit log $AUDIT is not readable" >&2; exit 1; }
for tool in git kubectl jq curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done

TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/shipline/target}
if [[ -n ${SHIPLINE_BIN:-} ]]; then
  BIN=$SHIPLINE_BIN
elif [[ -x $TARGET_DIR/release/shipline ]]; then
  BIN=$TARGET_DIR/release/shipline
else
  BIN=$TARGET_DIR/debug/shipline
fi
[[ -x $BIN ]] || { echo "no shipline binary at $BIN (set SHIPLINE_BIN)" >&2; exit 1; }
case $BIN in
  */debug/*) PROFILE="debug build: slower than release, figures are pessimistic for shipline" ;;
  */release/*) PROFILE="release build" ;;
  *) PROFILE="unknown profile (debug builds are slower than release)" ;;
esac

RECONCILER_NS=shipline-system
ID=$(LC_ALL=C tr -dc 'a-z0-9' </dev/urandom | head -c 6 || true)
NS_SL=bench-$ID-sl
NS_KC=bench-$ID-kc
SYNC=bench-$ID
TMP=$(mktemp -d "${TMPDIR:-/tmp}/shipline-bench.XXXXXX")
REPO=$TMP/repo
STATE=$TMP/state
KCACHE=$TMP/kube-cache   # kubectl's discovery cache: cold for its first apply, warm for the second
DAEMON_PID=

cleanup() {
  local rc=$?
  set +e
  if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID"
    for _ in $(seq 1 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$DAEMON_PID" 2>/dev/null && kill -KILL "$DAEMON_PID"
  fi
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    echo "BENCH_KEEP=1: left namespaces $NS_SL $NS_KC, ConfigMaps shipline-{inventory,status}-$SYNC, $TMP"
    exit "$rc"
  fi
  echo
  echo "== cleanup"
  kubectl delete namespace "$NS_SL" "$NS_KC" --ignore-not-found --wait=false 2>&1 | sed 's/^/   /'
  kubectl -n "$RECONCILER_NS" delete configmap "shipline-inventory-$SYNC" "shipline-status-$SYNC" \
    --ignore-not-found 2>&1 | sed 's/^/   /'
  kubectl -n "$RECONCILER_NS" delete events --field-selector "involvedObject.name=shipline-status-$SYNC" \
    2>&1 | sed 's/^/   /'
  # Bounded wait for the namespace controller (it deletes ~1,000 objects and their pods each).
  local left=
  for _ in $(seq 1 120); do
    left=$(kubectl get namespace "$NS_SL" "$NS_KC" --ignore-not-found -o name 2>/dev/null)
    [[ -z $left ]] && break
    sleep 1
  done
  if [[ -n $left ]]; then
    echo "   still terminating after 120 s: $left"
  else
    echo "   namespaces $NS_SL and $NS_KC are gone"
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
audit_offset() { stat -c %s "$AUDIT"; }

# The audit events between byte offsets $1 and $2 (empty: the end of the log) that tool $3
# (shipline|kubectl) made about namespace $4, one compact JSON line each. Kept: stage
# ResponseComplete, user admin, the tool's User-Agent, and either an object in that namespace
# (the Namespace itself included), the sync's ConfigMaps and Events in the reconciler namespace,
# or a non-resource request (discovery, /version, /openapi). The object filter keeps out other
# clients that share the admin user and send no User-Agent (the e2e tests' reconcilers, when
# they run at the same time); their discovery requests cannot be told apart.
audit_between() {
  # dd reads exactly the range (a `tail | head` pipe would die of SIGPIPE under pipefail).
  local range=(tail -c +"$(($1 + 1))" "$AUDIT")
  [[ -z $2 ]] || range=(dd if="$AUDIT" iflag=skip_bytes,count_bytes skip="$1" count="$(($2 - $1))" bs=1M status=none)
  "${range[@]}" |
    jq -c --arg tool "$3" --arg ns "$4" --arg rns "$RECONCILER_NS" \
      --arg inv "shipline-inventory-$SYNC" --arg st "shipline-status-$SYNC" '
      select(.stage == "ResponseComplete" and .user.username == "admin")
      | select((.userAgent // "") as $u
          | if $tool == "kubectl" then $u | startswith("kubectl")
            else $u | startswith("shipline/") end)
      | select(.objectRef == null
          or .objectRef.namespace == $ns
          or (.objectRef.namespace == $rns and ((.objectRef.name // "") as $n
               | $n == $inv or $n == $st or ($n | startswith($st + ".")))))
      | {verb, uri: .requestURI, code: .responseStatus.code}'
}

# Waits (bounded) until the audit log stops growing for tool $2 in namespace $3 since offset $1:
# the API server may write an event just after the client saw the response.
audit_settle() {
  local prev=-1 n
  for _ in $(seq 1 20); do
    n=$(audit_between "$1" "" "$2" "$3" | wc -l)
    [[ $n == "$prev" ]] && return 0
    prev=$n
    sleep 0.5
  done
}

# Summarises the events of tool $3 in namespace $4 between offsets $1 and $2 (empty: wait for
# the log to settle, then up to its end) into globals TOTAL, MUTATING, BYVERB.
count_requests() {
  [[ -n $2 ]] || audit_settle "$1" "$3" "$4"
  local events
  events=$(audit_between "$@")
  TOTAL=$(printf '%s' "$events" | grep -c . || true)
  MUTATING=$(printf '%s' "$events" | jq -s '[.[] | select(.verb != "get" and .verb != "list" and .verb != "watch")] | length')
  BYVERB=$(printf '%s' "$events" | jq -rs 'group_by(.verb) | map("\(.[0].verb)=\(length)") | join(" ")')
  [[ -n $BYVERB ]] || BYVERB="(none)"
}

declare -A T R M V RSS
# Runs step $1 (label) of tool $2 on namespace $3, the command being the rest; records wall time,
# peak RSS and requests.
measure() {
  local label=$1 tool=$2 ns=$3
  shift 3
  local off start end
  off=$(audit_offset)
  start=$(now)
  if ! "${TIME[@]}" "$@" >"$TMP/$label.out" 2>&1; then
    echo "   step $label failed: $*" >&2
    tail -n 30 "$TMP/$label.out" >&2
    exit 1
  fi
  end=$(now)
  count_requests "$off" "" "$tool" "$ns"
  T[$label]=$(elapsed "$start" "$end")
  R[$label]=$TOTAL
  M[$label]=$MUTATING
  V[$label]=$BYVERB
  RSS[$label]=$(sed -n 's/^maxrss_kb=//p' "$TMP/time" 2>/dev/null || true)
  [[ -n ${RSS[$label]} ]] || RSS[$label]=-
  printf '   %-16s %7ss  requests %5s  mutating %5s  peak RSS %6s kB  [%s]\n' \
    "$label" "${T[$label]}" "$TOTAL" "$MUTATING" "${RSS[$label]}" "$BYVERB"
}
# GNU time, when present, gives each step's peak RSS.
if [[ -x /usr/bin/time ]] && /usr/bin/time -f '' true 2>/dev/null; then
  TIME=(/usr/bin/time -o "$TMP/time" -f 'maxrss_kb=%M')
else
  TIME=()
fi

echo "shipline: $BIN ($PROFILE)"
echo "cluster:  $(kubectl version -o json 2>/dev/null | jq -r '.serverVersion.gitVersion') ($KUBECONFIG)"
echo "run id:   $ID (namespaces $NS_SL, $NS_KC; sync $SYNC)"

echo
echo "== generating the repository: 1 Namespace, 499 ConfigMaps, 250 Services, 250 Deployments"
mkdir -p "$REPO" "$STATE"
{
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$NS_SL"
} >"$REPO/namespace.yaml"
{
  for i in $(seq -w 1 499); do
    cat <<EOF
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-$i
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: "search,checkout,recommendations"
  application.properties: |
    server.port=8080
    cache.ttl=300
    upstream.url=http://svc-$(printf '%03d' $(( (10#$i % 250) + 1 ))):8080
EOF
  done
} >"$REPO/configmaps.yaml"
{
  for i in $(seq -w 1 250); do
    cat <<EOF
---
apiVersion: v1
kind: Service
metadata:
  name: svc-$i
spec:
  selector:
    app: app-$i
  ports:
  - name: http
    port: 8080
    targetPort: http
    protocol: TCP
EOF
  done
} >"$REPO/services.yaml"
{
  for i in $(seq -w 1 250); do
    cat <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-$i
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app-$i
  template:
    metadata:
      labels:
        app: app-$i
    spec:
      containers:
      - name: app
        image: registry.example.invalid/bench/app:1.0.$i
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP
        envFrom:
        - configMapRef:
            name: settings-$i
        resources:
          requests:
            cpu: 10m
            memory: 16Mi
          limits:
            memory: 64Mi
        readinessProbe:
          httpGet:
            path: /healthz
            port: http
          periodSeconds: 10
EOF
  done
} >"$REPO/deployments.yaml"
cat >"$REPO/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $NS_SL
labels:
- pairs:
    app.kubernetes.io/part-of: shipline-bench
resources:
- namespace.yaml
- configmaps.yaml
- services.yaml
- deployments.yaml
EOF
git -C "$REPO" init -q -b main
git -C "$REPO" -c user.name=bench -c user.email=bench@example.invalid add -A
git -C "$REPO" -c user.name=bench -c user.email=bench@example.invalid commit -q -m "1,000 objects"
COMMIT=$(git -C "$REPO" rev-parse HEAD)

"$BIN" build "$REPO" >"$TMP/build-sl.yaml"
OBJECTS=$(grep -c '^kind: ' "$TMP/build-sl.yaml")
sed "s/$NS_SL/$NS_KC/g" "$TMP/build-sl.yaml" >"$TMP/build-kc.yaml"
echo "   $REPO at $COMMIT: $OBJECTS objects, $(wc -c <"$TMP/build-sl.yaml") bytes built"
[[ $OBJECTS == 1000 ]] || { echo "expected 1000 objects, built $OBJECTS" >&2; exit 1; }

RECONCILE=("$BIN" reconcile --git "$REPO" --path . --state-dir "$STATE"
  --reconciler-namespace "$RECONCILER_NS" --create-reconciler-namespace --name "$SYNC" --no-wait --prune)
KUBECTL_APPLY=(kubectl apply --server-side --field-manager=kubectl-bench --cache-dir "$KCACHE"
  -f "$TMP/build-kc.yaml")

echo
echo "== (a)/(b) shipline reconcile --once, first apply then no-op"
measure shipline-first shipline "$NS_SL" "${RECONCILE[@]}" --once
measure shipline-noop shipline "$NS_SL" "${RECONCILE[@]}" --once
if [[ ${M[shipline-noop]} != 0 ]]; then
  echo "   FAIL: the no-op reconcile made ${M[shipline-noop]} mutating requests:" >&2
  NOOP_FAIL=1
else
  echo "   ok: the no-op reconcile made 0 mutating requests"
  NOOP_FAIL=0
fi
live=$(kubectl get -n "$NS_SL" configmaps,services,deployments -o name | wc -l)
echo "   live in $NS_SL: $live ConfigMaps+Services+Deployments (expected 999, plus kube-root-ca.crt if published)"

echo
echo "== (c) kubectl apply --server-side, first apply then again"
measure kubectl-first kubectl "$NS_KC" "${KUBECTL_APPLY[@]}"
measure kubectl-again kubectl "$NS_KC" "${KUBECTL_APPLY[@]}"

echo
echo "== (d) long-running reconciler: readiness, idle RSS, SIGTERM"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
  echo $((20000 + RANDOM % 20000)))
"${RECONCILE[@]}" --interval 10s --listen "127.0.0.1:$PORT" >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
START_D=$(now)
echo "   pid $DAEMON_PID, listening on 127.0.0.1:$PORT"

metric_successes() {
  curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
    awk -v s="shipline_reconcile_total{sync=\"$SYNC\",result=\"success\"}" '$1 == s { print $2 }'
}
daemon_alive() {
  kill -0 "$DAEMON_PID" 2>/dev/null || { echo "   the reconciler exited early:" >&2; tail -n 30 "$TMP/daemon.log" >&2; exit 1; }
}
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$DAEMON_PID/status"; }

ready=
for _ in $(seq 1 120); do
  daemon_alive
  if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz" || true) == 200 ]]; then
    ready=$(elapsed "$START_D" "$(now)")
    break
  fi
  sleep 0.5
done
[[ -n $ready ]] || { echo "   /readyz did not answer 200 within 60 s" >&2; exit 1; }
echo "   /readyz 200 after ${ready}s"

# The first reconcile done: a success in /metrics and the commit in the status ConfigMap.
synced=
for _ in $(seq 1 240); do
  daemon_alive
  revision=$(kubectl -n "$RECONCILER_NS" get configmap "shipline-status-$SYNC" \
    -o jsonpath='{.data.lastAppliedRevision}' 2>/dev/null || true)
  if [[ $revision == "$COMMIT" && $(metric_successes) -ge 1 ]]; then
    synced=$(elapsed "$START_D" "$(now)")
    break
  fi
  sleep 0.5
done
[[ -n $synced ]] || { echo "   no successful reconcile of $COMMIT within 120 s" >&2; tail -n 30 "$TMP/daemon.log" >&2; exit 1; }
echo "   first reconcile done after ${synced}s; status lastAppliedRevision=$revision"

# Three more intervals: wait (bounded) for three more successful reconciles, counting the
# requests between the first and the fourth success: what three idle reconciles cost.
n0=$(metric_successes)
idle_off=$(audit_offset)
idle_start=$(now)
idle_end_off=
for _ in $(seq 1 180); do
  daemon_alive
  n=$(metric_successes)
  if [[ ${n:-0} -ge $((n0 + 3)) ]]; then idle_end_off=$(audit_offset); break; fi
  sleep 0.5
done
[[ -n $idle_end_off ]] || { echo "   fewer than 3 more successful reconciles after 90 s" >&2; exit 1; }
idle_secs=$(elapsed "$idle_start" "$(now)")
count_requests "$idle_off" "$idle_end_off" shipline "$NS_SL"
IDLE_TOTAL=$TOTAL IDLE_MUT=$MUTATING IDLE_VERBS=$BYVERB
IDLE_PER=$((IDLE_TOTAL / (n - n0)))
echo "   $((n - n0)) more reconciles in ${idle_secs}s; their requests: $IDLE_TOTAL, mutating $IDLE_MUT [$IDLE_VERBS]"
if grep -q '"applied"\|applied' "$TMP/daemon.log"; then
  echo "   note: the daemon logged applied changes:"
  grep applied "$TMP/daemon.log" | head -n 3 | sed 's/^/     /'
fi

# Idle RSS: VmRSS sampled every 0.2 s over two windows of BENCH_FLAT_SECONDS each; the lowest
# sample of a window is the idle figure (a sample can fall inside a reconcile, which allocates
# and is released after it), the highest shows a reconcile in progress. Flat memory: the second
# window's idle figure against the first's.
FLAT=${BENCH_FLAT_SECONDS:-30}
sample_window() { # prints "lowest highest" VmRSS in kB over $FLAT seconds
  local lo= hi=0 v end=$((SECONDS + FLAT))
  while ((SECONDS < end)); do
    daemon_alive
    v=$(rss_kb)
    if [[ -z $lo ]] || ((v < lo)); then lo=$v; fi
    if ((v > hi)); then hi=$v; fi
    sleep 0.2
  done
  echo "$lo $hi"
}
read -r RSS1 HIGH1 < <(sample_window)
echo "   idle VmRSS over ${FLAT}s: ${RSS1} kB (lowest sample); highest ${HIGH1} kB (during a reconcile)"
read -r RSS2 HIGH2 < <(sample_window)
HWM=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$DAEMON_PID/status")
METRICS=$(curl -fsS "http://127.0.0.1:$PORT/metrics")
RECONCILES=$(metric_successes)
AVG=$(awk -v s="{sync=\"$SYNC\"}" '$1 == "shipline_reconcile_duration_seconds_sum" s { t = $2 }
  $1 == "shipline_reconcile_duration_seconds_count" s { c = $2 } END { if (c) printf "%.2f", t / c; else print "-" }' <<<"$METRICS")
echo "   the next ${FLAT}s: idle VmRSS ${RSS2} kB, highest ${HIGH2} kB (peak VmHWM ${HWM} kB); $RECONCILES successful reconciles, ${AVG}s each on average"
# Read the breakdown while idle (not inside a reconcile): VmRSS back near the idle figure.
for _ in $(seq 1 100); do
  (($(rss_kb) <= RSS2 + 512)) && break
  sleep 0.2
done
# What the idle RSS is: heap and other anonymous memory, or the binary's own pages (file-backed;
# a debug binary's are several times a release binary's).
SMAPS=$(awk '$1 ~ /^(Rss|Anonymous|Pss_Anon|Pss_File):$/ { printf "%s %s kB, ", $1, $2 }' "/proc/$DAEMON_PID/smaps_rollup")
THREADS=$(awk '$1 == "Threads:" { print $2 }' "/proc/$DAEMON_PID/status")
echo "   idle breakdown (smaps_rollup): ${SMAPS%, }; $THREADS threads"
# The same by mapping: the brk heap (the main malloc arena), other anonymous memory (other
# arenas, thread stacks, large mmap'd blocks), the shipline binary and other mapped files, and
# shared libraries.
MAPS=$(awk '
  /^[0-9a-f]+-[0-9a-f]+ / { p = $6; c = (p == "[heap]") ? "heap" : (p == "") ? "anon" : (p ~ /\.so/) ? "libs" : (p ~ /^\[/) ? "kernel" : "files"; next }
  $1 == "Rss:" { rss[c] += $2 }
  END { printf "heap %d kB, other anonymous %d kB, binary and files %d kB, shared libraries %d kB", rss["heap"], rss["anon"], rss["files"], rss["libs"] }' "/proc/$DAEMON_PID/smaps")
echo "   idle breakdown (smaps): $MAPS"
[[ -z ${BENCH_SMAPS:-} ]] || cp "/proc/$DAEMON_PID/smaps" "$BENCH_SMAPS"
FAILED=$(printf '%s\n' "$METRICS" | awk -v s="{sync=\"$SYNC\"," 'index($1, "shipline_reconcile_total" s) && $1 !~ /success/ { n += $2 } END { print n + 0 }')
[[ $FAILED == 0 ]] || echo "   WARNING: $FAILED failed reconciles in /metrics"

kill -TERM "$DAEMON_PID"
term_start=$(now)
for _ in $(seq 1 100); do
  kill -0 "$DAEMON_PID" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$DAEMON_PID" 2>/dev/null; then
  EXIT_AFTER="still running after 10 s"
  EXIT_CODE="-"
  TERM_OK=0
else
  EXIT_CODE=0
  wait "$DAEMON_PID" || EXIT_CODE=$?
  EXIT_AFTER="$(elapsed "$term_start" "$(now)")s"
  TERM_OK=1
fi
DAEMON_PID=
echo "   SIGTERM: exited after $EXIT_AFTER with code $EXIT_CODE"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
row() { printf '%-30s %8s %9s %9s %13s  %s\n' "$@"; }
echo
echo "== summary: 1,000 objects; shipline: $PROFILE"
row "" "wall s" "requests" "mutating" "peak RSS kB" "requests by verb"
for label in shipline-first shipline-noop kubectl-first kubectl-again; do
  row "$label" "${T[$label]}" "${R[$label]}" "${M[$label]}" "${RSS[$label]}" "${V[$label]}"
done
row "shipline/kubectl, first" "$(ratio "${T[shipline-first]}" "${T[kubectl-first]}")" \
  "$(ratio "${R[shipline-first]}" "${R[kubectl-first]}")" "$(ratio "${M[shipline-first]}" "${M[kubectl-first]}")" \
  "$(ratio "${RSS[shipline-first]}" "${RSS[kubectl-first]}")" ""
row "shipline/kubectl, again" "$(ratio "${T[shipline-noop]}" "${T[kubectl-again]}")" \
  "$(ratio "${R[shipline-noop]}" "${R[kubectl-again]}")" "$(ratio "${M[shipline-noop]}" "${M[kubectl-again]}")" \
  "$(ratio "${RSS[shipline-noop]}" "${RSS[kubectl-again]}")" ""
echo
row "long-running, interval 10s" "" "" "" "" ""
printf '   %-34s %s\n' "/readyz 200 after" "${ready}s"
printf '   %-34s %s\n' "first reconcile done after" "${synced}s"
printf '   %-34s %s\n' "one idle reconcile" "$IDLE_PER requests, $((IDLE_MUT / (n - n0))) mutating; ${AVG}s (average of $RECONCILES)"
printf '   %-34s %s\n' "idle VmRSS, first ${FLAT}s" "$RSS1 kB ($((RSS1 / 1024)) MiB); highest sample $HIGH1 kB"
printf '   %-34s %s\n' "idle VmRSS, next ${FLAT}s" "$RSS2 kB ($((RSS2 / 1024)) MiB), delta $((RSS2 - RSS1)) kB; highest $HIGH2 kB; VmHWM $HWM kB"
printf '   %-34s %s\n' "idle RSS by mapping" "$MAPS"
printf '   %-34s %s\n' "SIGTERM" "exit code $EXIT_CODE after $EXIT_AFTER"
echo
echo "Requests: audit log, user admin, the tool's User-Agent, objects of the step's namespace and"
echo "the sync's ConfigMaps/Events, plus discovery. kubectl's first apply starts with a cold"
echo "discovery cache (--cache-dir), its second with a warm one; shipline discovers on every start."
case $BIN in */debug/*) echo "shipline is a debug build here: release builds are markedly faster." ;; esac

[[ $NOOP_FAIL == 0 && $TERM_OK == 1 && $EXIT_CODE == 0 ]] || exit 1
