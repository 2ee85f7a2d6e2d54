# shellcheck shell=bash
# A real single-node Kubernetes v1.20.2 for shipline's tests, sourced by ctl.sh (which sets RUN,
# K8S_BIN, HERE and the registry/emulator ports): its own etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, then containerd (+ runc, overlayfs), kubelet and
# kube-proxy (iptables) with a CNI bridge and host-local IPAM. Separate from the API-server-only
# cluster on 127.0.0.1 that most tests use, so their audit logs and objects are untouched.
#
# Network: everything listens on 127.0.0.1 or on the bridge $NODE_BRIDGE ($NODE_IP/16), which
# this script creates and which has no uplink, so nothing routes off the machine. Pods reach the
# API server through the `kubernetes` Service (10.96.0.1:443 -> kube-proxy DNAT -> $NODE_IP),
# the git server at $NODE_IP (lighttpd listens there too) and pull images through containerd,
# which runs on the host and is configured (hosts.toml) for the test registry and the ECR
# emulator only; docker.io, gcr.io, registry.k8s.io, quay.io and ghcr.io point at a closed local
# port, so a stray image reference fails fast instead of reaching out.
#
# Pitfalls (found on these machines; see also the comments where they apply):
#  - API server advertise address and kubelet node IP cannot be loopback (Endpoints validation,
#    kubelet): the bridge address is both.
#  - CAP_SYS_RESOURCE is not in the sandbox's bounding set: nobody may lower oom_score_adj, so
#    containerd's CRI needs restrict_oom_score_adj = true or every Pod sandbox fails in runc.
#  - The pause image is built here (static C binary) and imported: with a remote runtime,
#    containerd's sandbox_image decides, kubelet's --pod-infra-container-image only stops GC.
#  - kubelet rewrites vm.overcommit_memory, kernel.panic, kernel.panic_on_oops, vm.panic_on_oom:
#    saved at start, restored by node_down, with ip_forward and bridge-nf-call-iptables.
#  - Shims outlive containerd: node_down kills tasks through ctr while containerd is still up,
#    then unmounts what kubelet and the snapshotter left under the state directory.
#  - No cluster DNS (no CoreDNS image offline): Pods use $KUBERNETES_SERVICE_HOST and IPs.

NODE_BRIDGE=${NODE_BRIDGE:-shipline0}
NODE_IP=${NODE_IP:-10.88.0.1}
NODE_POD_CIDR=10.88.0.0/16
NODE_SVC_CIDR=10.96.0.0/16
NODE_SVC_IP=10.96.0.1
NODE_NAME=node1
NODE_ETCD_PORT=${NODE_ETCD_PORT:-23379}
NODE_ETCD_PEER_PORT=${NODE_ETCD_PEER_PORT:-23380}
NODE_API_PORT=${NODE_API_PORT:-17443}
NODE_KCM_PORT=${NODE_KCM_PORT:-20257}
NODE_SCHED_PORT=${NODE_SCHED_PORT:-20259}
NODE_KUBELET_PORT=${NODE_KUBELET_PORT:-20250}
NODE_KUBELET_HEALTHZ_PORT=${NODE_KUBELET_HEALTHZ_PORT:-20248}
NODE_PROXY_METRICS_PORT=${NODE_PROXY_METRICS_PORT:-20249}
NODE_PROXY_HEALTHZ_PORT=${NODE_PROXY_HEALTHZ_PORT:-20256}
# The account the ECR emulator's repository URIs carry (ctl.sh starts ministack with it).
NODE_ECR_HOST=123456789012.dkr.ecr.us-east-1.amazonaws.com
NODE_APT_PACKAGES=(containerd runc containernetworking-plugins conntrack iptables socat ethtool util-linux gcc libc6-dev)

NODE_FORWARD_RULE=(-i "$NODE_BRIDGE" ! -o "$NODE_BRIDGE" -m comment --comment shipline-node-no-uplink -j DROP)

node_enabled() { [ "${SHIPLINE_NODE:-1}" = 1 ]; }
node_state() { echo "$RUN/node"; }

# Bridge and host settings; before the git server starts, since it listens on the bridge too.
node_net_up() {
  local s; s=$(node_state)
  mkdir -p "$s/pid"
  ls /run/netns 2>/dev/null >"$s/netns.before" || true
  if mountpoint -q /run/netns; then touch "$s/netns.wasmount"; fi
  local k
  for k in vm.overcommit_memory kernel.panic kernel.panic_on_oops vm.panic_on_oom net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables; do
    [ -e "/proc/sys/${k//.//}" ] && echo "$k=$(sysctl -n "$k")"
  done >"$s/sysctl.saved"
  sysctl -qw net.ipv4.ip_forward=1
  # bridged pod -> ClusterIP traffic must traverse iptables for kube-proxy's DNAT
  [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || die "br_netfilter is missing: Services between Pods cannot work"
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$NODE_BRIDGE" type bridge
    touch "$s/bridge.created"
  fi
  ip addr replace "$NODE_IP/16" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  # ip_forward is on (kube-proxy needs it): Pod packets for anything off the bridge (another
  # interface's network, the host's DNS server) are dropped here instead of routed out.
  iptables -I FORWARD 1 "${NODE_FORWARD_RULE[@]}"
  touch "$s/forward.rule"
}

node_up() {
  local s bin=$K8S_BIN t0=$SECONDS
  s=$(node_state)
  local p=$s/pki api="https://$NODE_IP:$NODE_API_PORT" sock=$s/run/containerd/containerd.sock
  local b
  for b in kube-scheduler kubelet kube-proxy kubectl; do [ -x "$bin/$b" ] || die "$bin/$b missing: run '$0 install'"; done
  for b in containerd runc ctr gcc iptables conntrack; do command -v "$b" >/dev/null || die "$b missing: run '$0 install'"; done
  mkdir -p "$s"/{pki,etc,log,pid,etcd,kubelet,containerd,cni,run/containerd,net.d,img,certs.d}
  node_pki "$p"
  node_kubeconfig admin admin; node_kubeconfig controller-manager controller-manager
  node_kubeconfig scheduler scheduler; node_kubeconfig kubelet kubelet; node_kubeconfig kube-proxy kube-proxy
  local kc=$s/etc

  node_start etcd etcd --name node --data-dir "$s/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$NODE_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$NODE_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$NODE_ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$NODE_ETCD_PEER_PORT" \
    --initial-cluster "node=http://127.0.0.1:$NODE_ETCD_PEER_PORT"
  node_wait etcd curl -sf "http://127.0.0.1:$NODE_ETCD_PORT/health"
  # 1.20 requires the service-account issuer and signing key; Node,RBAC + NodeRestriction as a
  # real cluster has them, so the kubelet only gets what the Node authorizer grants.
  node_start kube-apiserver "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$NODE_ETCD_PORT" \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port="$NODE_API_PORT" --insecure-port=0 \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" --client-ca-file="$p/ca.crt" \
    --kubelet-client-certificate="$p/apiserver-kubelet-client.crt" --kubelet-client-key="$p/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$NODE_SVC_CIDR" --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction --profiling=false
  node_wait kube-apiserver curl -sf --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" "$api/readyz"
  node_start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$kc/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$kc/controller-manager.kubeconfig" --authorization-kubeconfig="$kc/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$NODE_KCM_PORT" --port=0 --leader-elect=false \
    --service-account-private-key-file="$p/sa.key" --root-ca-file="$p/ca.crt" --use-service-account-credentials=true \
    --cluster-signing-cert-file="$p/ca.crt" --cluster-signing-key-file="$p/ca.key" \
    --service-cluster-ip-range="$NODE_SVC_CIDR" --allocate-node-cidrs=false --controllers='*,-cloud-node-lifecycle'
  node_start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$kc/scheduler.kubeconfig" \
    --authentication-kubeconfig="$kc/scheduler.kubeconfig" --authorization-kubeconfig="$kc/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$NODE_SCHED_PORT" --port=0 --leader-elect=false

  # --- CNI + containerd ---
  cat >"$s/net.d/10-bridge.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "shipline-pods", "plugins": [
  {"type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$s/cni",
            "ranges": [[{"subnet": "$NODE_POD_CIDR", "rangeStart": "10.88.1.1", "rangeEnd": "10.88.255.254", "gateway": "$NODE_IP"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  node_registry_hosts "$s/certs.d"
  cat >"$s/etc/containerd.toml" <<EOF
version = 2
root = "$s/containerd"
state = "$s/run/containerd"
[grpc]
  address = "$sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "k8s.gcr.io/pause:3.2"
  # The sandbox lacks CAP_SYS_RESOURCE: lowering oom_score_adj (-998 for sandboxes) fails in
  # runc ("can't get final child's PID from pipe: EOF"). This clamps it to containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$s/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$s/certs.d"
    # Node-level pull credentials (as an EKS node's role pulls from ECR): no imagePullSecrets.
    [plugins."io.containerd.grpc.v1.cri".registry.configs."127.0.0.1:$REGISTRY_PORT".auth]
      username = "$REGISTRY_USER"
      password = "$REGISTRY_PASS"
EOF
  # A clean environment: no proxy variables reach containerd's pulls.
  node_start containerd env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin containerd -c "$s/etc/containerd.toml"
  node_wait containerd ctr -a "$sock" version
  gcc -static -Os -o "$s/img/pause.bin" "$HERE/pause.c"
  strip "$s/img/pause.bin"
  python3 "$HERE/../../scripts/oci-image.py" --out "$s/img/pause" --archive "$s/img/pause.tar" --name k8s.gcr.io/pause:3.2 \
    --entrypoint '["/pause"]' --user 65535:65535 "file:$s/img/pause.bin:/pause:755" >/dev/null
  ctr -a "$sock" -n k8s.io images import "$s/img/pause.tar" >/dev/null

  # --- kubelet ---
  printf 'nameserver %s\n' "$NODE_IP" >"$s/etc/resolv.conf"
  cat >"$s/etc/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $NODE_KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $NODE_KUBELET_HEALTHZ_PORT
cgroupDriver: cgroupfs
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $p/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $p/kubelet.crt
tlsPrivateKeyFile: $p/kubelet.key
clusterDomain: cluster.local
# No cluster DNS; Pods must not query the host's resolver (off the machine) either.
resolvConf: $s/etc/resolv.conf
# low thresholds: a fullish CI disk must not taint the node with DiskPressure
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
  node_start kubelet "$bin/kubelet" --config="$s/etc/kubelet.yaml" --kubeconfig="$kc/kubelet.kubeconfig" \
    --container-runtime=remote --container-runtime-endpoint="unix://$sock" --runtime-request-timeout=2m \
    --pod-infra-container-image=k8s.gcr.io/pause:3.2 --root-dir="$s/kubelet" --cert-dir="$p" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
  # --- kube-proxy ---
  cat >"$s/etc/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $kc/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $NODE_POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:$NODE_PROXY_METRICS_PORT
healthzBindAddress: 127.0.0.1:$NODE_PROXY_HEALTHZ_PORT
# leave the host's conntrack sysctls alone
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  node_start kube-proxy "$bin/kube-proxy" --config="$s/etc/kube-proxy.yaml"
  node_wait kube-scheduler curl -sk "https://127.0.0.1:$NODE_SCHED_PORT/healthz"
  node_wait kube-controller-manager curl -sk "https://127.0.0.1:$NODE_KCM_PORT/healthz"
  node_wait kubelet sh -c "KUBECONFIG='$kc/admin.kubeconfig' '$bin/kubectl' get node $NODE_NAME -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  node_wait kube-proxy sh -c "iptables -t nat -S KUBE-SERVICES | grep -q '$NODE_SVC_IP/32'"
  node_wait kube-controller-manager env KUBECONFIG="$kc/admin.kubeconfig" "$bin/kubectl" get serviceaccount default -n default
  log "node $NODE_NAME Ready in $((SECONDS - t0)) s (KUBECONFIG=$kc/admin.kubeconfig)"
}

# Registry hosts for containerd (hosts.toml): the test registry and the ECR emulator over plain
# HTTP on 127.0.0.1; public registries at a closed port so nothing is pulled from outside.
node_registry_hosts() {
  local d=$1 h
  mkdir -p "$d/127.0.0.1:$REGISTRY_PORT" "$d/$NODE_ECR_HOST"
  printf 'server = "http://127.0.0.1:%s"\n[host."http://127.0.0.1:%s"]\n  capabilities = ["pull", "resolve"]\n' \
    "$REGISTRY_PORT" "$REGISTRY_PORT" >"$d/127.0.0.1:$REGISTRY_PORT/hosts.toml"
  printf 'server = "http://127.0.0.1:%s"\n[host."http://127.0.0.1:%s"]\n  capabilities = ["pull", "resolve"]\n' \
    "$MINISTACK_PORT" "$MINISTACK_PORT" >"$d/$NODE_ECR_HOST/hosts.toml"
  for h in docker.io k8s.gcr.io registry.k8s.io gcr.io quay.io ghcr.io; do
    mkdir -p "$d/$h"
    printf 'server = "http://127.0.0.1:9"\n' >"$d/$h/hosts.toml"
  done
}

node_pki() {
  local p=$1
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$p/ca.key" -out "$p/ca.crt" -days 30 -subj /CN=shipline-node-ca 2>/dev/null
  node_cert "$p" apiserver /CN=kube-apiserver \
    "IP:$NODE_IP,IP:$NODE_SVC_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  node_cert "$p" admin /O=system:masters/CN=admin
  node_cert "$p" apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client
  node_cert "$p" controller-manager /CN=system:kube-controller-manager
  node_cert "$p" scheduler /CN=system:kube-scheduler
  node_cert "$p" kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "IP:$NODE_IP,DNS:$NODE_NAME"
  node_cert "$p" kube-proxy /CN=system:kube-proxy
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
}

node_cert() { # node_cert PKI NAME SUBJECT [SAN]: a client+server certificate signed by the node CA
  local p=$1 n=$2 subj=$3 san=${4:-}
  openssl req -newkey rsa:2048 -nodes -keyout "$p/$n.key" -out "$p/$n.csr" -subj "$subj" 2>/dev/null
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"; [ -z "$san" ] || echo "subjectAltName=$san"; } >"$p/$n.ext"
  openssl x509 -req -in "$p/$n.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 30 \
    -extfile "$p/$n.ext" -out "$p/$n.crt" 2>/dev/null
}

node_kubeconfig() { # node_kubeconfig NAME CERT
  local s; s=$(node_state)
  cat >"$s/etc/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: node, cluster: {server: "https://$NODE_IP:$NODE_API_PORT", certificate-authority: "$s/pki/ca.crt"}}]
users: [{name: $1, user: {client-certificate: "$s/pki/$2.crt", client-key: "$s/pki/$2.key"}}]
contexts: [{name: node, context: {cluster: node, user: $1, namespace: default}}]
current-context: node
EOF
}

node_start() { # node_start NAME CMD...: own session (so kill reaches it alone), log and PID under the state dir
  local s n=$1; shift
  s=$(node_state)
  setsid "$@" >"$s/log/$n.log" 2>&1 </dev/null &
  echo $! >"$s/pid/$n"
}

node_wait() { # node_wait NAME CMD...: poll CMD (bounded, 120 s); fail fast if NAME died
  local s n=$1; shift
  s=$(node_state)
  for _ in $(seq 1 1200); do
    "$@" >/dev/null 2>&1 && return 0
    if ! kill -0 "$(cat "$s/pid/$n" 2>/dev/null)" 2>/dev/null; then
      tail -n 30 "$s/log/$n.log" >&2 || true
      die "node: $n exited during start-up (log: $s/log/$n.log)"
    fi
    sleep 0.1
  done
  tail -n 30 "$s/log/$n.log" >&2 || true
  die "node: $n not ready in 120 s (log: $s/log/$n.log)"
}

node_stop() { # node_stop NAME: SIGTERM, up to 15 s, then SIGKILL
  local s pid n=$1
  s=$(node_state)
  [ -f "$s/pid/$n" ] || return 0
  pid=$(cat "$s/pid/$n")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$s/pid/$n"
}

# Stops the node and undoes every host change; every wait is bounded. Safe to run twice.
node_down() {
  # best effort, every step: a failed step must not leave the rest undone
  local -
  set +e +o pipefail
  local s sock kubectl=$K8S_BIN/kubectl
  s=$(node_state)
  [ -d "$s/pid" ] || return 0
  sock=$s/run/containerd/containerd.sock
  export KUBECONFIG=$s/etc/admin.kubeconfig
  # 1. Pods deleted while the control plane and kubelet run: kubelet unmounts their volumes and
  #    containerd's StopPodSandbox runs CNI DEL (netns, IPs).
  if [ -f "$s/pid/kube-apiserver" ] && [ -f "$s/pid/kubelet" ]; then
    timeout 20 "$kubectl" delete deployments,replicasets,daemonsets,statefulsets,jobs --all --all-namespaces --wait=false >/dev/null 2>&1
    timeout 20 "$kubectl" delete pods --all --all-namespaces --grace-period=1 --wait=false >/dev/null 2>&1
    for _ in $(seq 1 300); do
      [ "$(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null | wc -l)" -eq 0 ] && break
      sleep 0.1
    done
  fi
  node_stop kube-proxy
  node_stop kubelet
  # 2. What is left, through containerd (this also ends the shims)
  if [ -f "$s/pid/containerd" ]; then
    local id
    for id in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      timeout 10 ctr -a "$sock" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1
      timeout 10 ctr -a "$sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1
    done
  fi
  local n
  for n in kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do node_stop "$n"; done
  # shims started by this containerd carry its socket path on their command line
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $sock" || true); do kill -9 "$pid" 2>/dev/null || true; done
  # 3. Mounts under the state dir (overlay rootfs, kubelet's tmpfs volumes and rshared self-bind)
  local m
  for m in $(findmnt -rn -o TARGET | grep "^$s" | sort -r); do umount -l "$m" 2>/dev/null || true; done
  if [ -f "$s/netns.before" ]; then
    local ns
    for ns in $(ls /run/netns 2>/dev/null | grep '^cni-' | grep -vxF -f "$s/netns.before"); do
      umount "/run/netns/$ns" 2>/dev/null; rm -f "/run/netns/$ns"
    done
  fi
  if [ ! -f "$s/netns.wasmount" ] && mountpoint -q /run/netns && [ -z "$(ls -A /run/netns)" ]; then umount /run/netns || true; fi
  # 4. iptables: kube-proxy's chains, then kubelet's and the portmap plugin's
  timeout 30 "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  local t c r
  for t in nat filter mangle; do
    iptables -t $t -S 2>/dev/null | grep -E '^-A .*-j (KUBE-|CNI-)' | grep -vE '^-A (KUBE-|CNI-)' | sed 's/^-A //' \
      | while read -r r; do eval "iptables -t $t -D $r" 2>/dev/null || true; done
    for c in $(iptables -t $t -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/{print $2}'); do iptables -t $t -F "$c" 2>/dev/null || true; done
    for c in $(iptables -t $t -S 2>/dev/null | awk '/^-N (KUBE-|CNI-)/{print $2}'); do iptables -t $t -X "$c" 2>/dev/null || true; done
  done
  # 5. cgroups kubelet (kubepods) and containerd (k8s.io) created, deepest first
  local h
  for h in /sys/fs/cgroup/*/; do
    for c in kubepods k8s.io; do [ -d "$h$c" ] && find "$h$c" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  done
  # 6. bridge, forward rule and sysctls
  if [ -f "$s/forward.rule" ]; then
    while iptables -D FORWARD "${NODE_FORWARD_RULE[@]}" 2>/dev/null; do :; done
    rm -f "$s/forward.rule"
  fi
  if [ -f "$s/bridge.created" ]; then ip link del "$NODE_BRIDGE" 2>/dev/null || true; rm -f "$s/bridge.created"; fi
  if [ -f "$s/sysctl.saved" ]; then
    local k v
    while IFS== read -r k v; do sysctl -qw "$k=$v" || true; done <"$s/sysctl.saved"
    rm -f "$s/sysctl.saved"
  fi
  unset KUBECONFIG
  # image layers are large; logs and configuration stay for inspection until the next `up`
  if ! findmnt -rn -o TARGET | grep -q "^$s"; then rm -rf "$s/containerd" "$s/kubelet"; fi
  rm -rf "$s/pid"
}

node_env() {
  local s; s=$(node_state)
  cat <<EOF
export SHIPLINE_TEST_NODE_KUBECONFIG=$s/etc/admin.kubeconfig SHIPLINE_TEST_KUBECTL=$K8S_BIN/kubectl
export SHIPLINE_TEST_NODE_IP=$NODE_IP SHIPLINE_TEST_NODE_GIT_HTTPS_BASE=https://$NODE_IP:$GIT_HTTPS_PORT/v1/repos
export SHIPLINE_TEST_NODE_CONTAINERD=$s/run/containerd/containerd.sock
EOF
}
