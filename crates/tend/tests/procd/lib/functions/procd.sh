# Stand-in for OpenWrt's /lib/functions/procd.sh (see README.md): the same functions,
# taking their arguments the same way, but each call is appended to $PROCD_RECORD as
# counted NUL-terminated fields instead of being built into a JSON message for ubus.

_procd_record() {
	printf '%s\0' "$#" "$@" >>"${PROCD_RECORD:?PROCD_RECORD is not set}"
}

# The real one takes a lock on /var/lock/procd_NAME.lock with flock.
procd_lock() {
	_procd_record lock
}

procd_open_service() {
	_PROCD_SERVICE="$1"
	_PROCD_INSTANCE_SEQ=0
	_procd_record open_service "$1" "$2"
}

procd_close_service() {
	service_triggers
	if type service_data >/dev/null 2>&1; then
		service_data
	fi
	_procd_record ubus call service "${1:-set}"
}

procd_open_instance() {
	_PROCD_INSTANCE_SEQ=$((_PROCD_INSTANCE_SEQ + 1))
	_procd_record open_instance "${1:-instance$_PROCD_INSTANCE_SEQ}"
}

# A table (env, data, limits): each argument NAME=VALUE, split at the first `=`;
# an argument without `=` has an empty value; the first empty argument ends it.
_procd_table() {
	_pt_type="$1"
	shift
	while [ -n "$1" ]; do
		_pt_var="${1%%=*}"
		_pt_val="${1#*=}"
		[ "$1" = "$_pt_val" ] && _pt_val=
		_procd_record table "$_pt_type" "$_pt_var" "$_pt_val"
		shift
	done
}

procd_set_param() {
	_ps_type="$1"
	shift
	case "$_ps_type" in
	env | data | limits)
		_procd_table "$_ps_type" "$@"
		;;
	command | netdev | file | respawn | watch | watchdog)
		_procd_record array "$_ps_type" "$@"
		;;
	error)
		_procd_record array "$_ps_type" "$*"
		;;
	nice | term_timeout)
		_procd_record int "$_ps_type" "$1"
		;;
	reload_signal)
		_procd_record int "$_ps_type" "$(kill -l "$1")"
		;;
	pidfile | user | group | seccomp | capabilities | facility | \
		extroot | overlaydir | tmpoverlaysize | vrf)
		_procd_record string "$_ps_type" "$1"
		;;
	stdout | stderr | no_new_privs)
		_procd_record bool "$_ps_type" "$1"
		;;
	*)
		# The real one ignores a parameter it does not know.
		_procd_record ignored "$_ps_type" "$@"
		;;
	esac
}

procd_append_param() {
	_procd_record append "$@"
}

# The real one fills an empty `respawn` with the uci defaults (3600 5 5).
procd_close_instance() {
	_procd_record close_instance
}

procd_add_instance() {
	procd_open_instance
	procd_set_param command "$@"
	procd_close_instance
}

procd_running() {
	_procd_record ubus call service list "$1" "${2:-*}"
	return 1
}

procd_kill() {
	_procd_record ubus call service delete "$1" "$2"
}

procd_send_signal() {
	_procd_record ubus call service signal "$@"
}

# As procd answers for a service it does not know: no procd runs here.
_procd_status() {
	_procd_record ubus call service list "$1" "$2"
	echo "inactive"
	return 3
}
