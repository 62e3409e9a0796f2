#!/bin/bash
# ceiling.sh: the machine's limits that bound the publishing rate, measured
# next to a benchmark run so the ratio to them is of the same moment.
#
#   bench/ceiling.sh DIR
#
# Prints ed25519 signatures and verifications per second (openssl speed, one
# core) and the latency of a synced 4 KiB write in DIR (which should be on the
# data directory's file system): 2,000 appends with O_DSYNC (dd oflag=dsync),
# and bench/synclat: 2,000 files of 4 KiB each created, written, fsynced and
# renamed the way the blob store writes them, by 1, 8 and 64 writers at once
# (concurrent fsyncs share journal commits). Run it from the repository root.
# Also the load average before and after.
set -eu
DIR=$1
T=$(mktemp -d "$DIR/.ceiling-XXXXXX")
trap 'rm -rf "$T"' EXIT
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
openssl speed -seconds 3 ed25519 2>/dev/null | grep -E '^ *253 bits|EdDSA'
s=$(date +%s%N)
dd if=/dev/zero of="$T/append" bs=4k count=2000 oflag=dsync status=none
e=$(date +%s%N)
echo "synced 4 KiB append (O_DSYNC): $(( (e - s) / 2000 / 1000 )) us each"
go run ./bench/synclat -dir "$DIR" -n 2000 -writers 1,8,64
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
