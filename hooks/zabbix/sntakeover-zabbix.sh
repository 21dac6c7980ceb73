#!/bin/sh
# Zabbix: hand a problem/recovery of a service node to sntakeover.
# As an action operation "Execute remote command" on the Zabbix server (or a
# script media type, AlertScriptsPath), with the macros as arguments, quoted:
#   /usr/local/bin/sntakeover-zabbix.sh "{HOST.HOST}" "{EVENT.ID}" "{EVENT.VALUE}" "{EVENT.NSEVERITY}" "{EVENT.STATUS}" "{TRIGGER.NAME}" "{EVENT.RECOVERY.ID}"
# Use the same command in the action's recovery operation: {EVENT.VALUE} is 0 there.
# A non-zero exit makes Zabbix retry (media type attempts); the daemon
# de-duplicates on {EVENT.ID}+{EVENT.VALUE}.
SNTAKEOVER=${SNTAKEOVER:-sntakeover}
[ $# -ge 3 ] || { echo "usage: $0 HOST EVENT_ID VALUE [SEVERITY STATUS TRIGGER RECOVERY_ID]" >&2; exit 2; }
exec "$SNTAKEOVER" hook zabbix --host "$1" --event "$2" --value "$3" \
    ${4:+--severity "$4"} ${5:+--status "$5"} ${6:+--trigger "$6"} ${7:+--recovery-id "$7"}
