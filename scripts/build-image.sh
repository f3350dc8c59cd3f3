#!/usr/bin/env bash
# Builds hookd's container image offline (no base image is pulled: FROM scratch) with podman, or buildah, and tags
# it `hookd:latest` and `hookd:<version>`.
#
#   scripts/build-image.sh [--binary PATH] [--name NAME] [--tool podman|buildah]
#
# --binary  an already built hookd (default: `cargo build --release --locked`, then target/release/hookd)
# --name    the image's name (default: hookd, or $HOOKD_IMAGE)
# --tool    podman or buildah (default: whichever is installed, podman first; installed with apt-get if neither is
#           and this runs as root)
#
# The binary is linked against glibc: it is copied with every shared library `ldd` lists and the dynamic loader,
# at their own paths. The image runs as the user hookd (10001:10001), listens on 0.0.0.0:8071, keeps its SQLite
# store and main key file on the volume /data, and checks its health with `hookd healthcheck`.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="" name="${HOOKD_IMAGE:-hookd}" tool=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --name) name="$2"; shift 2 ;;
        --tool) tool="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ -z "$tool" ]; then
    if command -v podman >/dev/null; then tool=podman
    elif command -v buildah >/dev/null; then tool=buildah
    elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "build-image.sh: neither podman nor buildah is installed; installing Debian's podman" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null
        tool=podman
    else
        echo "build-image.sh: podman or buildah is needed (apt-get install podman, as root)" >&2
        exit 1
    fi
fi
command -v "$tool" >/dev/null || { echo "build-image.sh: $tool is not installed" >&2; exit 1; }
command -v ldd >/dev/null || { echo "build-image.sh: ldd is needed to find the binary's libraries" >&2; exit 1; }

if [ -z "$binary" ]; then
    cargo build --release --locked --bin hookd
    binary=target/release/hookd
fi
[ -x "$binary" ] || { echo "build-image.sh: $binary is not an executable" >&2; exit 1; }
version="$("$binary" --version | awk '{print $2}')"
[ -n "$version" ] || { echo "build-image.sh: $binary --version printed no version" >&2; exit 1; }

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$ctx/data"
chmod 1777 "$root/tmp"
chmod 0700 "$ctx/data"
cp "$binary" "$root/usr/local/bin/hookd"
# Debug information is not needed in the image (backtraces keep the symbol names).
if command -v strip >/dev/null; then strip --strip-debug "$root/usr/local/bin/hookd"; fi
# Every library the binary links, and the loader, at their own paths (a statically linked binary has none).
ldd "$binary" 2>/dev/null | grep -o '/[^ ]*' | sort -u | while read -r lib; do
    [ -e "$lib" ] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
cat > "$root/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
hookd:x:10001:10001:hookd:/data:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PASSWD
cat > "$root/etc/group" <<GROUP
root:x:0:
hookd:x:10001:
nogroup:x:65534:
GROUP
echo 'hosts: files dns' > "$root/etc/nsswitch.conf"
# hookd verifies TLS with the roots built into it (webpki-roots); the system's bundle is there for anything else.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
fi
cp Containerfile "$ctx/Containerfile"

tags=("$name:latest" "$name:$version")
case "$tool" in
    podman)
        podman build --pull=never --format docker --file "$ctx/Containerfile" \
            --label org.opencontainers.image.version="$version" \
            --label org.opencontainers.image.title=hookd \
            $(printf -- '--tag %s ' "${tags[@]}") "$ctx" ;;
    buildah)
        buildah bud --pull-never --format docker --file "$ctx/Containerfile" \
            --label org.opencontainers.image.version="$version" \
            --label org.opencontainers.image.title=hookd \
            $(printf -- '--tag %s ' "${tags[@]}") "$ctx" ;;
    *) echo "build-image.sh: --tool is podman or buildah" >&2; exit 2 ;;
esac
echo "built ${tags[*]}"
