#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The Debian packages: libgfiber0, libgfiber-dev, gfibers-dkms,
# gfibers-tools (debian/, debhelper compat 13).
#
#   deb.sh build   the .debs into build/deb/ (`make deb`): the tree is
#                  copied to build/deb/src (the sources as committed or
#                  not, without build outputs) and built there with
#                  dpkg-buildpackage -us -uc -b
#   deb.sh test    build, then TAP: each package's contents (dpkg-deb -c),
#                  lintian, and, as root, apt-get install of the four,
#                  the module in `dkms status` and built for the
#                  installed kernels, a program outside the tree built
#                  with only pkg-config (shared, and static) and run,
#                  then apt-get purge leaving nothing behind.
#                  Exit 1 when a test failed.
# Installs what it needs (debhelper, dh-dkms, lintian, dkms) when root.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
out=$top/build/deb
version=$(sed -n 's/^#define GFIBERS_VERSION "\(.*\)"$/\1/p' include/gfibers_version.h)
arch=$(dpkg --print-architecture)
pkgs=(libgfiber0 libgfiber-dev gfibers-dkms gfibers-tools)

build() {
	local src=$out/src/gfibers-$version
	scripts/deps.sh build-essential debhelper dh-dkms dpkg-dev fakeroot rsync >&2 || return 1
	rm -rf "$out"
	mkdir -p "$src"
	rsync -a --exclude=/build --exclude=.git --exclude='*.o' --exclude='*.ko' \
		--exclude='*.mod' --exclude='*.mod.c' --exclude='.*.cmd' \
		--exclude='*.order' --exclude=Module.symvers --exclude='*.a' \
		--exclude='*.so' ./ "$src/"
	(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
		tail -n 40 "$out/build.log" >&2
		echo "deb: dpkg-buildpackage failed, log: $out/build.log" >&2
		return 1
	}
	mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out/"
	rm -rf "$out/src"
	ls "$out"/*.deb
}

case ${1:-} in
build)
	build
	exit
	;;
test)
	;;
*)
	sed -n '3,17p' "$0" >&2
	exit 2
	;;
esac

n=0 failed=0
mkdir -p "$top/build"	# run alone on a clean clone too
log=$top/build/deb-test.log
t() {	# t NAME COMMAND...: one TAP line for the command's exit status
	local name=$1
	shift
	n=$((n + 1))
	if "$@" >"$log" 2>&1; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		failed=$((failed + 1))
		sed 's/^/# /' "$log" | tail -n 30
	fi
}

echo "TAP version 13"
t "make deb: ${pkgs[*]}" build
deb() { echo "$out/$1_${version}_$2.deb"; }

# contents PKG ARCH PATTERN...: every pattern matches a path of the package
contents() {
	local p=$1 a=$2 list pat
	shift 2
	list=$(dpkg-deb -c "$(deb "$p" "$a")" | awk '{ print $6 }') || return 1
	for pat in "$@"; do
		grep -Eq "^\./$pat\$" <<< "$list" || { echo "$p: no $pat"; echo "$list"; return 1; }
	done
}
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
t "libgfiber0: libgfiber.so.$version and its soname link" \
	contents libgfiber0 "$arch" "usr/lib/$ma/libgfiber\.so\.$version" \
		"usr/lib/$ma/libgfiber\.so\.0"
t "libgfiber0: no headers, static library or .so link" \
	bash -c "! dpkg-deb -c '$(deb libgfiber0 "$arch")' | grep -E 'include|\.a\$|libgfiber\.so\$'"
t "libgfiber-dev: headers, libgfiber.a, .so, gfiber.pc, man pages" \
	contents libgfiber-dev "$arch" usr/include/gfiber\.h usr/include/gfibers/gfibers\.h \
		"usr/lib/$ma/libgfiber\.a" "usr/lib/$ma/libgfiber\.so" \
		"usr/lib/$ma/pkgconfig/gfiber\.pc" usr/share/man/man3/gfiber\.3\.gz \
		usr/share/man/man3/gf_chan_send\.3\.gz
t "gfibers-dkms: dkms.conf, Kbuild, kmod/, include/uapi/, gfibers(4)" \
	contents gfibers-dkms all "usr/src/gfibers-$version/dkms\.conf" \
		"usr/src/gfibers-$version/Kbuild" "usr/src/gfibers-$version/kmod/Kbuild" \
		"usr/src/gfibers-$version/kmod/main\.c" \
		"usr/src/gfibers-$version/include/uapi/gfibers\.h" \
		"usr/src/gfibers-$version/include/gfibers_version\.h" \
		usr/share/man/man4/gfibers\.4\.gz
t "gfibers-tools: gfps and its page" \
	contents gfibers-tools "$arch" usr/bin/gfps \
		usr/share/man/man1/gfps\.1\.gz

lint() {
	scripts/deps.sh lintian >&2 || return 1
	lintian --fail-on error,warning "$out"/*.changes
}
t "lintian: no error or warning" lint

if [[ $(id -u) != 0 ]]; then
	for what in "apt-get install" "dkms status" "pkg-config program (shared)" \
		    "pkg-config program (static)" "apt-get purge"; do
		n=$((n + 1))
		echo "ok $n $what # SKIP not root"
	done
	echo "1..$n"
	((failed == 0))
	exit
fi

export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
debs=()
for p in "${pkgs[@]}"; do
	a=$arch
	[[ $p == gfibers-dkms ]] && a=all
	debs+=("$(deb "$p" "$a")")
done
t "apt-get install ./build/deb/*.deb" \
	"${apt[@]}" install --no-install-recommends "${debs[@]}"

# The kernels DKMS can build for: those with headers (the running one may
# have none, in a container).
dkms_ok() {
	dkms status gfibers
	dkms status gfibers | grep "^gfibers/$version, .*: installed" >/dev/null &&
	modinfo -F version "$(find /lib/modules/*/updates/dkms -name 'gfibers.ko*' | head -n 1)" |
		grep -x "$version" >/dev/null
}
t "dkms status: gfibers/$version installed, its module's version $version" dkms_ok

scratch=$(mktemp -d /tmp/gfibers-deb-test.XXXXXX)
cp scripts/pkgtest/hello.c "$scratch/"
prog() {	# prog shared|static
	local static=
	[[ $1 == static ]] && static=--static
	"$top"/scripts/deps.sh pkg-config >&2 || return 1
	cd "$scratch" || return 1
	# shellcheck disable=SC2046
	cc -Wall -Werror ${static:+-static} -o "hello-$1" hello.c \
		$(pkg-config $static --cflags --libs gfiber) || return 1
	if [[ $1 == shared ]]; then
		ldd "hello-$1" | grep -E "libgfiber\.so\.0 => (/usr)?/lib/$ma/libgfiber\.so\.0 " >/dev/null || return 1
	else
		! readelf -d "hello-$1" | grep NEEDED >/dev/null || return 1
	fi
	[[ $("./hello-$1") == "gfiber $version sum 6" ]]
}
t "outside the tree: cc hello.c \$(pkg-config --cflags --libs gfiber), runs" prog shared
t "outside the tree: cc -static hello.c \$(pkg-config --static --cflags --libs gfiber), runs" prog static
rm -rf "$scratch"

purged() {
	local files
	files=$(dpkg -L "${pkgs[@]}" | grep -v '^/\.$')
	"${apt[@]}" purge "${pkgs[@]}" || return 1
	for f in $files; do
		[[ -d $f ]] && continue
		[[ -e $f || -L $f ]] && { echo "left behind: $f"; return 1; }
	done
	! dkms status gfibers | grep . >/dev/null &&
	[[ ! -e /usr/src/gfibers-$version ]] &&
	! find /lib/modules/*/updates/dkms -name 'gfibers.ko*' 2>/dev/null | grep . >/dev/null
}
t "apt-get purge: no file, module or DKMS entry left" purged

echo "1..$n"
((failed == 0))
