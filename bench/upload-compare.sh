#!/bin/bash
# upload-compare.sh: developer-signed uploads per second of two or more
# builds of hallmark-bench, side by side on the same repository.
#
#   bench/upload-compare.sh PRISTINE SHARDS ROUNDS BINARY...
#
# PRISTINE holds repositories built once by `hallmark-bench -phases build`
# (PRISTINE/S<shards>/data). Before each run the repository is copied afresh
# to $WORK/NAME-ROUND (WORK defaults to /var/tmp/upload-compare), so every
# run starts from the same state (an upload run adds versions to the store
# and the blob directory). The copies are removed at the start of the next
# comparison, which then waits a minute: on ext4 without a journal, creating
# files soon after many were deleted costs several times more CPU (the inode
# allocator skips inodes freed in the last minute), which would bias the
# first run. Each round runs every binary in turn, in reverse order on even
# rounds, with
#
#   BINARY -n $N -shards SHARDS -work $WORK/NAME-ROUND -phases upload -uploaders $UPLOADERS \
#          -uploads $UPLOADS -upload-time 20s -profile $WORK/NAME-ROUND/prof
#
# (N defaults to 20000, UPLOADERS to 64, UPLOADS to 3000; with WARMUP=K,
# K untimed uploads first: -warmup K; EXTRA holds more flags, such as
# "-only-shards 16"). With PGTEMPLATE=postgres://…/DB (the
# PostgreSQL database the repository was built in, with -database), each run
# gets a copy of DB (createdb -T, as that URL's user, with PostgreSQL's
# programs from PATH or /usr/lib/postgresql/*/bin) and -database pointing at
# it; the copies are dropped with the work directories. It prints one
# line per run: uploads a second, p50 and p99 latency, and the CPU per upload
# of the whole process (the profile's total samples over the uploads
# published: server, publisher and load generator), with the load average.
set -eu
PRISTINE=$(cd "$1" && pwd); SHARDS=$2; ROUNDS=$3; shift 3
W=${WORK:-/var/tmp/upload-compare}
N=${N:-20000}; UPLOADERS=${UPLOADERS:-64}; UPLOADS=${UPLOADS:-3000}
mkdir -p "$W"
pgbin=$(dirname "$(command -v createdb || ls /usr/lib/postgresql/*/bin/createdb | tail -1)")
pgrun() { # program database-name [args]: runs a PostgreSQL program against PGTEMPLATE's server
	local prog=$1 db=$2; shift 2
	local rest=${PGTEMPLATE#postgres://} hostport user
	user=${rest%%@*}; hostport=${rest#*@}; hostport=${hostport%%/*}
	"$pgbin/$prog" -h "${hostport%:*}" -p "${hostport#*:}" -U "$user" "$@" "$db"
}
if [ -n "$(ls -A "$W")" ]; then
	for d in "$W"/*/; do
		[ -n "${PGTEMPLATE:-}" ] && pgrun dropdb "bench_$(basename "$d" | tr -c 'a-zA-Z0-9\n' _)" --if-exists
	done
	rm -rf "${W:?}"/*
	sync
	sleep 65
fi
run() {
	local bin=$1 round=$2 name
	name=$(basename "$bin")
	local dir=$W/$name-$round
	mkdir -p "$dir"
	cp -a "$PRISTINE/S$SHARDS" "$dir/"
	sync
	local load prof=$dir/prof db=()
	if [ -n "${PGTEMPLATE:-}" ]; then
		local copy
		copy=bench_$(basename "$dir" | tr -c 'a-zA-Z0-9\n' _)
		pgrun createdb "$copy" -T "${PGTEMPLATE##*/}"
		db=(-database "${PGTEMPLATE%/*}/$copy")
	fi
	load=$(cut -d' ' -f1 /proc/loadavg)
	local line
	line=$("$bin" -n "$N" -shards "$SHARDS" -work "$dir" -phases upload -uploaders "$UPLOADERS" "${db[@]}" ${EXTRA:-} \
		-uploads "$UPLOADS" -upload-time 20s -warmup "${WARMUP:-0}" -profile "$prof" 2>&1 | grep -E "U=$UPLOADERS: " | tail -1)
	local published cpu
	published=$(sed -E 's/.*: ([0-9]+) published.*/\1/' <<<"$line")
	cpu=$(go tool pprof -top "$bin" "$prof"/*.pprof 2>/dev/null | sed -nE 's/.*Total samples = ([0-9.]+)(m?s).*/\1 \2/p')
	cpu=$(awk -v c="$cpu" -v n="$published" 'BEGIN { split(c, a, " "); s = a[1]; if (a[2] == "ms") s /= 1000; printf "%.2f", s * 1000 / n }')
	printf '%-16s round %d load %-5s %s; %s ms CPU/upload\n' "$name" "$round" "$load" \
		"$(sed -E 's/.*published in ([0-9.]+s): ([0-9]+\/s), p50 ([0-9]+ ms), p99 ([0-9]+ ms).*/\2 p50 \3 p99 \4 (\1)/' <<<"$line")" "$cpu"
}
for ((r = 1; r <= ROUNDS; r++)); do
	bins=("$@")
	if ((r % 2 == 0)); then
		bins=()
		for ((i = $#; i >= 1; i--)); do bins+=("${!i}"); done
	fi
	for b in "${bins[@]}"; do run "$b" "$r"; done
done
