#!/usr/bin/env bats
# `make install` as a packager runs it: `cmake --install BUILD --prefix P` into a DESTDIR,
# then uninstalling through the install manifest, as `make uninstall` does.

load helpers

: "${JOBNIK_SOURCE_DIR:=$BATS_TEST_DIRNAME/../..}"

setup() {
  # CTest passes JOBNIK_BIN_DIR=<build>/src.
  BUILD_DIR="${JOBNIK_BUILD_DIR:-$(cd "$JOBNIK_BIN_DIR/.." && pwd)}"
  [[ -f "$BUILD_DIR/cmake_install.cmake" ]] || fail "no configured build in $BUILD_DIR (set JOBNIK_BIN_DIR)"
  STAGE="$BATS_TEST_TMPDIR/stage"
  # cmake --install writes BUILD/install_manifest.txt: keep the one a real
  # `make install` may have left there, for `make uninstall`.
  MANIFEST_BACKUP=""
  if [[ -f "$BUILD_DIR/install_manifest.txt" ]]; then
    MANIFEST_BACKUP="$BATS_TEST_TMPDIR/install_manifest.txt.orig"
    cp -p "$BUILD_DIR/install_manifest.txt" "$MANIFEST_BACKUP"
  fi
}

teardown() {
  if [[ -n "$MANIFEST_BACKUP" ]]; then
    cp -p "$MANIFEST_BACKUP" "$BUILD_DIR/install_manifest.txt"
  else
    rm -f "$BUILD_DIR/install_manifest.txt"
  fi
}

# install_into PREFIX: installs the build into $STAGE with that prefix; the manifest
# (paths without DESTDIR) is kept as $BATS_TEST_TMPDIR/manifest.
install_into() {
  DESTDIR="$STAGE" run cmake --install "$BUILD_DIR" --prefix "$1"
  assert_success
  cp "$BUILD_DIR/install_manifest.txt" "$BATS_TEST_TMPDIR/manifest"
}

# Every man page, completion script and the example that exist in the source tree.
source_man_pages() { find "$JOBNIK_SOURCE_DIR/man" -maxdepth 1 -type f -name '*.[158]' 2>/dev/null | sort; }
source_completions() { find "$JOBNIK_SOURCE_DIR/completions" -maxdepth 1 -type f -name '*.bash' 2>/dev/null | sort; }

@test "install puts binaries, man pages, completion, units, example and docs under the prefix" {
  install_into /usr/local
  local root="$STAGE/usr/local"
  for program in jobnikd jobnikctl jobnik-worker; do
    assert [ -x "$root/bin/$program" ]
    run "$root/bin/$program" --version
    assert_success
    assert_output --partial "$program"
  done
  while read -r page; do
    [[ -n "$page" ]] || continue
    name=$(basename "$page")
    assert [ -f "$root/share/man/man${name##*.}/$name" ]
  done < <(source_man_pages)
  while read -r script; do
    [[ -n "$script" ]] || continue
    assert [ -f "$root/share/bash-completion/completions/$(basename "$script" .bash)" ]
  done < <(source_completions)
  if [[ -f "$JOBNIK_SOURCE_DIR/completions/jobnikd.bash" ]]; then
    assert [ -f "$root/share/bash-completion/completions/jobnikd" ]
  fi
  if [[ -f "$JOBNIK_SOURCE_DIR/examples/jobnikd.yaml" ]]; then
    cmp "$JOBNIK_SOURCE_DIR/examples/jobnikd.yaml" "$root/share/doc/jobnik/jobnikd.yaml.example"
  fi
  cmp "$JOBNIK_SOURCE_DIR/docs/operations.md" "$root/share/doc/jobnik/operations.md"
  jq -e .panels "$root/share/doc/jobnik/grafana-dashboard.json" >/dev/null

  assert [ -f "$root/lib/systemd/system/jobnikd.service" ]
  run grep -c '@[A-Z_]*@' "$root/lib/systemd/system/jobnikd.service"
  assert_output 0
  run grep -x 'ExecStart=.*' "$root/lib/systemd/system/jobnikd.service"
  assert_output "ExecStart=/usr/local/bin/jobnikd --config /etc/jobnik/jobnikd.yaml serve"
  run grep -x 'ExecStart=.*' "$root/lib/systemd/system/jobnik-worker@.service"
  assert_output "ExecStart=/usr/local/bin/jobnik-worker --config /etc/jobnik/worker-%i.yaml"

  # Nothing outside the prefix.
  run find "$STAGE" -mindepth 1 -maxdepth 1
  assert_output "$STAGE/usr"
  run find "$STAGE/usr" -mindepth 1 -maxdepth 1
  assert_output "$STAGE/usr/local"
}

@test "the units name the prefix given at install time, not the configured one" {
  install_into /opt/jobnik
  run grep -x 'ExecStart=.*' "$STAGE/opt/jobnik/lib/systemd/system/jobnikd.service"
  assert_output "ExecStart=/opt/jobnik/bin/jobnikd --config /etc/jobnik/jobnikd.yaml serve"
  assert [ -x "$STAGE/opt/jobnik/bin/jobnikd" ]
}

@test "installed man pages and docs name the installed prefix, not /usr/local" {
  install_into /usr
  local root="$STAGE/usr"
  local docs=("$root/share/man/man8/jobnikd.8" "$root/share/man/man5/jobnikd.yaml.5" "$root/share/doc/jobnik/operations.md")
  for doc in "${docs[@]}"; do
    assert [ -f "$doc" ]
    run grep -c '/usr/local/share' "$doc"
    assert_output 0
  done
  # Every mention of the installed example names where it really is.
  run grep -h -o '/[^ `]*share/doc/jobnik/jobnikd.yaml.example' "${docs[@]}"
  assert_success
  assert_equal "$(sort -u <<<"$output")" "/usr/share/doc/jobnik/jobnikd.yaml.example"
  assert [ -f "$root/share/doc/jobnik/jobnikd.yaml.example" ]
  # The man pages still format cleanly.
  if command -v groff >/dev/null; then
    run groff -man -ww -z "$root/share/man/man8/jobnikd.8"
    assert_output ""
  fi
}

@test "uninstalling the files of the install manifest leaves nothing behind" {
  install_into /usr/local
  # The manifest lists every installed file (and only those), without DESTDIR.
  diff <(sed "s|^|$STAGE|" "$BATS_TEST_TMPDIR/manifest" | sort) <(find "$STAGE" -type f -o -type l | sort)
  run grep -c -x -e '/usr/local/bin/jobnikd' -e '/usr/local/lib/systemd/system/jobnikd.service' \
    "$BATS_TEST_TMPDIR/manifest"
  assert_output 2

  sed "s|^|$STAGE|" "$BATS_TEST_TMPDIR/manifest" | xargs -r -d '\n' rm -f --
  run find "$STAGE" -type f -o -type l
  assert_output ""
}
