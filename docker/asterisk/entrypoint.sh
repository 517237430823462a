#!/bin/sh
# Render this site's configuration, then run Asterisk in the foreground with
# its log on stdout.
set -eu
: "${HOTLINE_SITE:?set HOTLINE_SITE to the site's name in the topology file}"
cd /opt/hotline-link
python3 -m telephony.render --site "$HOTLINE_SITE" --out /etc/asterisk --run-user asterisk
# the lab logs to files; a container logs to stdout
sed -i 's/^console => .*/console => notice,warning,error/' /etc/asterisk/logger.conf
mkdir -p /var/run/asterisk /var/lib/asterisk /var/spool/asterisk /var/log/asterisk
chown -R asterisk:asterisk /var/run/asterisk /var/lib/asterisk /var/spool/asterisk /var/log/asterisk
chmod 0640 /etc/asterisk/*.conf && chgrp asterisk /etc/asterisk/*.conf
exec /usr/sbin/asterisk -f -C /etc/asterisk/asterisk.conf
