#!/usr/bin/env bash
# `make install`: puts ferry in place for systemd (deploy/systemd/).
#   deploy/install.sh BINARY
# Environment (the Makefile passes its variables): DESTDIR (staging root, default empty),
# PREFIX (default /usr/local), SYSCONFDIR (default /etc), UNITDIR (default
# PREFIX/lib/systemd/system, on systemd's unit path for /usr/local; use /etc/systemd/system
# for other prefixes). Installs:
#   PREFIX/bin/ferry                      the binary
#   UNITDIR/ferry.service                 the unit, its paths rewritten to PREFIX and SYSCONFDIR
#   SYSCONFDIR/ferry/ferry.yaml           deploy/systemd/ferry.yaml, only if none is there yet
#   PREFIX/share/ferry/demo/{a,b}         the demo sites that config serves
#   PREFIX/share/doc/ferry/README.md      deploy/README.md
set -euo pipefail
binary=${1:?usage: deploy/install.sh BINARY}
[[ -x $binary ]] || { echo "install: $binary not built (run make build)" >&2; exit 1; }
top=$(cd "$(dirname "$0")/.." && pwd)
destdir=${DESTDIR:-}
prefix=${PREFIX:-/usr/local}
sysconfdir=${SYSCONFDIR:-/etc}
unitdir=${UNITDIR:-$prefix/lib/systemd/system}

rewrite() { sed -e "s|/usr/local|$prefix|g" -e "s|/etc/ferry|$sysconfdir/ferry|g" "$1"; }

install -d "$destdir$prefix/bin" "$destdir$unitdir" "$destdir$sysconfdir/ferry" \
  "$destdir$prefix/share/ferry/demo" "$destdir$prefix/share/doc/ferry"
install -m 0755 "$binary" "$destdir$prefix/bin/ferry"
rewrite "$top/deploy/systemd/ferry.service" > "$destdir$unitdir/ferry.service"
chmod 0644 "$destdir$unitdir/ferry.service"
if [[ -e "$destdir$sysconfdir/ferry/ferry.yaml" ]]; then
  echo "install: keeping the existing $destdir$sysconfdir/ferry/ferry.yaml"
else
  rewrite "$top/deploy/systemd/ferry.yaml" > "$destdir$sysconfdir/ferry/ferry.yaml"
  chmod 0644 "$destdir$sysconfdir/ferry/ferry.yaml"
fi
for site in a b; do
  install -d "$destdir$prefix/share/ferry/demo/$site"
  install -m 0644 "$top/deploy/demo/$site/"* "$destdir$prefix/share/ferry/demo/$site/"
done
install -m 0644 "$top/deploy/README.md" "$destdir$prefix/share/doc/ferry/README.md"
echo "install: ferry in $destdir$prefix/bin, unit in $destdir$unitdir, config in $destdir$sysconfdir/ferry"
