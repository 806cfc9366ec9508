# Shared helpers for the scripts that start test WebDAV servers on loopback.
# Sourced, not run: the caller sets `set -euo pipefail`.

# Daemons live in sbin, which is not on every user's PATH.
PATH="$PATH:/usr/sbin:/sbin"

die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}

# need_cmd COMMAND PACKAGES: fail with the apt-get line that provides COMMAND.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 ||
		die "$1 not found; install it with: apt-get install $2"
}

# check_serve_args DIR PORT USER PASSWORD_FILE: validate the arguments shared by the serve scripts.
check_serve_args() {
	[[ -n $1 ]] || die "DIR is empty"
	[[ $2 =~ ^[0-9]+$ ]] && ((10#$2 >= 1 && 10#$2 <= 65535)) || die "PORT must be 1..65535, got '$2'"
	[[ $3 =~ ^[A-Za-z0-9._-]+$ ]] || die "USER must be letters, digits, '.', '_' or '-', got '$3'"
	[[ -f $4 && -r $4 ]] || die "PASSWORD_FILE $4 is not a readable file"
	[[ -s $4 ]] || die "PASSWORD_FILE $4 is empty"
}

# write_htpasswd FILE USER PASSWORD_FILE: bcrypt entry for USER; the password goes through
# stdin so it never shows in the process list.
write_htpasswd() {
	local password
	IFS= read -r password <"$3" || [[ -n $password ]] || die "cannot read a password from $3"
	printf '%s\n' "$password" | htpasswd -i -B -c "$1" "$2" 2>/dev/null ||
		die "htpasswd could not write $1"
}

# serve_until_ready URL LOG COMMAND...: run COMMAND in the background, print "ready URL" once
# URL answers any HTTP status (401 counts: the server is up), then wait for it. A TERM or INT
# to this script stops the server. LOG is shown if the server dies before it is ready.
serve_until_ready() {
	local url=$1 log=$2
	shift 2
	"$@" &
	local server=$!
	# shellcheck disable=SC2064 # expand $server now
	trap "kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; exit 143" TERM INT
	local tries=0 code
	while :; do
		if ! kill -0 "$server" 2>/dev/null; then
			local status=0
			wait "$server" || status=$?
			[[ -f $log ]] && tail -n 20 "$log" >&2
			die "server exited with status $status before answering at $url"
		fi
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)
		[[ $code != 000 ]] && break
		((++tries < 300)) || { kill -TERM "$server"; die "no answer at $url after 30s"; }
		sleep 0.1
	done
	echo "ready $url"
	local status=0
	wait "$server" || status=$?
	exit "$status"
}
