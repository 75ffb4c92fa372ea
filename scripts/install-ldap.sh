#!/usr/bin/env bash
# LDAP sign-in needs python-ldap, built against OpenLDAP's and Cyrus SASL's headers; its tests start
# Debian's slapd with the ldap-utils tools. Install them when missing (as root).
set -euo pipefail
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for package in libldap2-dev libsasl2-dev slapd ldap-utils; do
  have "$package" || missing+=("$package")
done
if [ ${#missing[@]} = 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "LDAP packages are missing: install the Debian packages ${missing[*]} (as root)." >&2
  exit 1
fi
# slapd's postinst would ask for an admin password and build a system directory: unattended, it
# makes a default one. The console and the tests never use it (the tests start their own slapd with
# its own configuration, port and data), so the system service is stopped and not started at boot.
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
if [ -x /etc/init.d/slapd ]; then
  /etc/init.d/slapd stop >/dev/null 2>&1 || true
  command -v update-rc.d >/dev/null && update-rc.d slapd disable >/dev/null 2>&1 || true
fi
/usr/sbin/slapd -VV 2>&1 | head -n 1
