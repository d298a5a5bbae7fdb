#!/bin/sh
# Starts skiffd in the foreground, imports a busybox image built locally from
# Debian's busybox-static (so the first task needs no registry), and prints
# how to talk to it.
set -eu
build=$1 data=$2 listen=$3
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$data"
data=$(cd "$data" && pwd)
endpoint="http://$listen"
creds="$data/credentials"

"$root/scripts/busybox-image.sh" "$data/seed/busybox"

# Each task gets its own interface in its VPC (a veth on the subnet's bridge,
# security groups in nftables) when the host can filter bridged traffic;
# otherwise tasks have only their loopback (docs/network.md).
net=""
netmsg="Tasks have only their loopback here (br_netfilter could not be loaded)."
if [ "$(id -u)" = 0 ] && { [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] ||
    modprobe -q br_netfilter 2>/dev/null; }; then
    net=--task-network
    netmsg="Each task gets an interface and address in its VPC (default: 172.31.0.0/16)."
fi

"$build/skiffd" --data-dir "$data" --listen "$listen" $net &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
i=0
until curl -fsS "$endpoint/healthz" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 $pid 2>/dev/null; then
        echo "skiffd did not start" >&2
        exit 1
    fi
    sleep 0.1
done
AWS_SHARED_CREDENTIALS_FILE=$creds AWS_DATA_PATH=$root/models AWS_CONFIG_FILE=/dev/null \
    aws --endpoint-url "$endpoint" --region us-east-1 skiff import-image \
    --path "$data/seed/busybox" --reference busybox:latest >/dev/null

cat <<MSG

skiff is running on $endpoint (data dir: $data), with a local busybox image.
$netmsg
In another terminal, try:

  export AWS_SHARED_CREDENTIALS_FILE=$creds
  aws --endpoint-url $endpoint --region us-east-1 ecs list-clusters
  aws --endpoint-url $endpoint --region us-east-1 ecs create-cluster
  aws --endpoint-url $endpoint --region us-east-1 ecs register-task-definition \\
      --family hello --requires-compatibilities FARGATE --network-mode awsvpc \\
      --cpu 256 --memory 512 \\
      --container-definitions '[{"name":"hello","image":"busybox","command":["echo","hello from skiff"]}]'
  aws --endpoint-url $endpoint --region us-east-1 ecs run-task --task-definition hello

Stop it with Ctrl-C.

MSG
wait $pid
