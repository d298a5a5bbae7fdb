#!/bin/sh
# Builds a small OCI image layout from Debian's busybox-static (no registry
# needed): /bin/busybox with every applet linked, Cmd ["sh"].
# usage: busybox-image.sh LAYOUT-DIR
set -eu
layout=$1
[ -f "$layout/index.json" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umoci init --layout "$work/layout"
umoci new --image "$work/layout:latest"
umoci config --image "$work/layout:latest" --config.cmd sh --config.env PATH=/bin:/usr/bin \
    --config.workingdir / --os linux --architecture "$(dpkg --print-architecture)"
umoci unpack --image "$work/layout:latest" "$work/bundle" >/dev/null
mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/tmp" "$work/bundle/rootfs/etc"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$work/bundle/rootfs/bin/$a"
done
chmod 1777 "$work/bundle/rootfs/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' \
    > "$work/bundle/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$work/bundle/rootfs/etc/group"
umoci repack --image "$work/layout:latest" "$work/bundle" >/dev/null
umoci gc --layout "$work/layout"
mkdir -p "$(dirname "$layout")"
mv "$work/layout" "$layout"
