#!/bin/sh
# Render this site's configuration, then run Asterisk in the foreground.
set -eu
: "${HOTLINE_SITE:?set HOTLINE_SITE to 12345, 110 or remote}"
cd /opt/hotline-link
python3 -m telephony.lab.render --site "$HOTLINE_SITE" --out /etc/asterisk --run-user asterisk
mkdir -p /var/run/asterisk /var/lib/asterisk /var/spool/asterisk /var/log/asterisk
chown -R asterisk:asterisk /var/run/asterisk /var/lib/asterisk /var/spool/asterisk /var/log/asterisk
exec /usr/sbin/asterisk -f -C /etc/asterisk/asterisk.conf
