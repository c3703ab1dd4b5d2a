#!/bin/sh
# Regenerates the listing goldens from Debian's libpcap and tcpdump.
# Needs: clang-19 (or cc), libpcap0.8-dev, tcpdump. Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-clang-19}
"$cc" -O1 -o "$tmp/bpf_image_all" bpf_image_all.c -lpcap
"$tmp/bpf_image_all" > bpf_image_all.txt
"$tmp/bpf_image_all" -dd > bpf_dump_all.dd
"$tmp/bpf_image_all" -ddd > bpf_dump_all.ddd

# Empty pcap files give tcpdump the link type without a capture device.
python3 - "$tmp" <<'PY'
import struct, sys
for name, dlt in (("eth", 1), ("raw", 101), ("sll", 113)):
    with open(f"{sys.argv[1]}/{name}.pcap", "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, dlt))
PY
mkdir -p tcpdump
: > tcpdump/index.txt
n=0
while IFS='|' read -r link expr; do
    [ -z "$link" ] && continue
    n=$((n + 1))
    base=$(printf 'tcpdump/%03d' "$n")
    printf '%s|%s|%s\n' "$base" "$link" "$expr" >> tcpdump/index.txt
    for opt in d dd ddd; do
        tcpdump -r "$tmp/$link.pcap" "-$opt" "$expr" > "$base.$opt" 2>/dev/null
    done
done < expressions.txt
