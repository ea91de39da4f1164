#!/bin/sh
# A private systemd-journald for the journald tests (PEERS.md): run as
#   unshare --mount --pid --fork --mount-proc nsjournald.sh DIR
# It mounts (mount -n: the host's mount table is untouched; the mount namespace is private)
# a tmpfs on /run and DIR/log on /run/log (and an empty DIR/var on /var/log/journal when
# that exists, so that nothing can reach the host's persistent journal), starts
# systemd-journald with DIR/journald.conf, and then sends what the test asks for: each file
# DIR/send.N (N = 1, 2, ...) is a batch of lines "TAG MESSAGE", sent alternately through
# systemd-cat (stdout transport) and logger --journald (native protocol); DIR/sent.N marks
# a batch done. DIR/stop ends it. The journal files appear in DIR/log/journal/MACHINE-ID/.
set -eu
D=$1
mkdir -p "$D/log" "$D/var"
cat > "$D/journald.conf" <<EOC
[Journal]
Storage=volatile
RateLimitBurst=0
RateLimitIntervalSec=0
ForwardToSyslog=no
ForwardToWall=no
ForwardToConsole=no
ForwardToKMsg=no
ReadKMsg=no
Audit=no
EOC
mount -n -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal /run/log
mount -n --bind "$D/log" /run/log
[ -d /var/log/journal ] && mount -n --bind "$D/var" /var/log/journal
mount -n --bind "$D/journald.conf" /etc/systemd/journald.conf
/lib/systemd/systemd-journald &
jpid=$!
i=0
while [ ! -S /run/systemd/journal/socket ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
[ -S /run/systemd/journal/socket ] || { echo "nsjournald: journald did not start" >&2; exit 1; }
touch "$D/ready"
n=1
while [ ! -e "$D/stop" ]; do
        if [ -e "$D/send.$n" ]; then
                k=0
                while read -r tag msg; do
                        if [ $((k % 2)) -eq 0 ]; then
                                printf '%s\n' "$msg" | systemd-cat -t "$tag" -p warning
                        else
                                printf 'MESSAGE=%s\nSYSLOG_IDENTIFIER=%s\nPRIORITY=4\nACCESS_USER=alice\n' \
                                        "$msg" "$tag" | logger --journald
                        fi
                        k=$((k+1))
                done < "$D/send.$n"
                touch "$D/sent.$n"
                n=$((n+1))
        fi
        sleep 0.05
done
kill "$jpid"
wait "$jpid" || true
