# Sourced by tools/run and tools/test: installs the Debian packages scout
# needs, asking apt only when dpkg says something is missing.

scout_install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "error: packages missing (${missing[*]}); run as root or install them" >&2
		return 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null || return 1
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || return 1
}

# Build and run time.
SCOUT_BUILD_DEPS=(
	gcc meson ninja-build pkg-config
	libuv1-dev libssl-dev libwebsockets-dev libwebsockets-evlib-uv
	libsnmp-dev libldap2-dev libmsgpack-dev liblmdb-dev libinih-dev
	libsystemd-dev libjansson-dev node-llhttp libcrypt-dev
	g++ libqpdf-dev libavahi-client-dev
	libqrencode-dev zlib1g-dev
)

# Tests, fuzzing and peers.
SCOUT_TEST_DEPS=(
	libcmocka-dev clang clang-format libclang-rt-14-dev python3 lmdb-utils systemd
	snmpsim snmpd snmp
	curl openssl
	cups-daemon cups-client cups-bsd cups-filters cups-ipp-utils ghostscript qpdf avahi-daemon dbus
	zbar-tools
	slapd ldap-utils samba-ad-dc samba-ad-provision dnsmasq-base
)
