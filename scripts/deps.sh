#!/bin/sh
# Installs the Debian 12 packages skiff needs to build, run and test.
# Idempotent: only missing packages are installed.
set -eu

PKGS="build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
libjansson-dev libsqlite3-dev libssl-dev libmicrohttpd-dev libcurl4-openssl-dev
libarchive-dev libzstd-dev libcmocka-dev libmnl-dev libnftables-dev libseccomp-dev
python3 python3-botocore python3-boto3 python3-pytest python3-pytest-xdist python3-requests awscli
crun runc conmon catatonit busybox-static docker-registry skopeo umoci
nftables iproute2 nginx-light wrk haproxy sqlite3 curl
golang-github-opencontainers-specs-dev python3-jsonschema"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing:$missing"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    # Services in these packages must not start on their own (tests start what they need).
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
