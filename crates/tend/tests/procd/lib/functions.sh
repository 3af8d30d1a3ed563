# Stand-in for the part of OpenWrt's /lib/functions.sh that rc.common uses.

# list_contains VAR WORD: whether the space-separated list in $VAR holds WORD.
list_contains() {
	eval "_lc_list=\" \${$1} \""
	case "$_lc_list" in
	*" $2 "*) return 0 ;;
	*) return 1 ;;
	esac
}
