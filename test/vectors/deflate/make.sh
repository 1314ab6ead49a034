#!/bin/sh
# Regenerates the gzip/zlib fixtures from input.bin with the gzip and pigz CLIs.
# input.bin = first 64 KiB of wasm/src/sample.ts benchSample() + /usr/share/common-licenses/GPL-3.
set -eu
cd "$(dirname "$0")"
for l in 1 6 9; do gzip -c -n -$l input.bin > gzip-$l.gz; done
gzip -c -N input.bin > gzip-name.gz                # FNAME set
for l in 0 1 6 9 11; do pigz -c -n -$l input.bin > pigz-$l.gz; done
pigz -c -n -6 -b 32 -p 2 input.bin > pigz-blocks.gz   # 32 KiB blocks joined by empty stored blocks
pigz -c -n -z -6 input.bin > pigz-6.zz               # zlib framing
gzip -c -n -6 input.bin > part1.gz
head -c 1000 input.bin | gzip -c -n -1 > part2.gz
: | gzip -c -n > part3.gz                            # an empty member
cat part1.gz part2.gz part3.gz part1.gz > multi-member.gz
rm part1.gz part2.gz part3.gz
sha256sum input.bin *.gz *.zz > SHA256SUMS
