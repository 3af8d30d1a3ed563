# Stand-in for OpenWrt's /lib/functions/service.sh: rc.common sources it; its
# start-stop helpers serve scripts without USE_PROCD, which tend does not write.
:
