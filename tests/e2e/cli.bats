#!/usr/bin/env bats
# The programs' command lines: version, help, configuration layering and validation.

load helpers

@test "every program answers --version and --help" {
  for prog in "$JOBNIKD" "$JOBNIKCTL" "$JOBNIK_WORKER"; do
    run "$prog" --version
    assert_success
    assert_output --regexp "^$(basename "$prog") [0-9]+\.[0-9]+\.[0-9]+$"
    run "$prog" --help
    assert_success
    assert_output --partial "Usage"
  done
}

@test "jobnikd --help lists the configuration flags and subcommands" {
  run "$JOBNIKD" --help
  assert_success
  for word in --listen --database-url --data-dir --pool-size --log-format --print-config migrate serve sweep; do
    assert_output --partial -- "$word"
  done
}

@test "each program's bash completion offers every option its --help lists" {
  local prog name missing
  for prog in "$JOBNIKD" "$JOBNIKCTL" "$JOBNIK_WORKER"; do
    name=$(basename "$prog")
    missing=$(comm -23 \
      <("$prog" --help | grep -o '^ *\(-[a-zA-Z], *\)\?--[a-z-]*' | sed 's/.*--/--/' | sort -u) \
      <(grep -o -- '--[a-z][a-z-]*' "$JOBNIK_SOURCE_DIR/completions/$name.bash" | sort -u))
    [[ -z "$missing" ]] || fail "completions/$name.bash lacks: $missing"
  done
}

@test "jobnikd --help shows each option's type and built-in default" {
  run "$JOBNIKD" --help
  assert_success
  for word in "--listen HOST:PORT=127.0.0.1:8080" "--pool-size INT=16" "--body-limit BYTES=1048576" \
    "--access-log BOOL=true" "--log-level LEVEL=info" "--shutdown-timeout SECONDS=10" "--database-url URL " \
    "--config FILE"; do
    assert_output --partial -- "$word"
  done
  refute_output --partial "TEXT"
}

@test "a bad log level or format is reported once, naming the key" {
  run "$JOBNIKD" --log-level verbose --print-config
  assert_failure 2
  assert_output "jobnikd: flag --log-level: log.level must be one of trace, debug, info, warn, error, critical, off; not 'verbose'"
  JOBNIK_LOG_FORMAT=xml run "$JOBNIKD" --print-config
  assert_failure 2
  assert_output "jobnikd: environment JOBNIK_LOG_FORMAT: log.format must be 'text' or 'json', not 'xml'"
}

@test "print-config masks the password in every libpq connection-string form" {
  for conninfo in "host=db password = s3cret user=app" "host=db password='s3cret a b' user=app" \
    "host=db password='s3\\'cret' user=app" "host=db password=s3cret\\ x user=app" \
    "postgresql://app:s3cret@db/jobs" "postgresql://app@db/jobs?password=s3cret&sslmode=disable"; do
    run env -u JOBNIK_DATABASE_URL "$JOBNIKD" --print-config --database-url "$conninfo"
    assert_success
    refute_output --partial "s3"
    assert_output --partial "****"
    assert_output --partial "db"
  done
}

@test "print-config shows defaults and masks the database password" {
  run env -u JOBNIK_DATABASE_URL "$JOBNIKD" --print-config --database-url 'postgresql://app:s3cret@db/jobs'
  assert_success
  assert_output --partial "listen: 127.0.0.1:8080"
  assert_output --partial "postgresql://app:****@db/jobs"
  refute_output --partial "s3cret"
}

@test "configuration precedence is flags over environment over file" {
  cfg="$BATS_TEST_TMPDIR/jobnikd.yaml"
  printf 'listen: 127.0.0.1:1111\ndatabase:\n  pool_size: 3\nlog:\n  level: debug\n' >"$cfg"
  run "$JOBNIKD" --config "$cfg" --print-config
  assert_success
  assert_output --partial "listen: 127.0.0.1:1111"
  assert_output --partial "pool_size: 3"
  JOBNIK_LISTEN=127.0.0.1:2222 run "$JOBNIKD" --config "$cfg" --print-config
  assert_output --partial "listen: 127.0.0.1:2222"
  JOBNIK_LISTEN=127.0.0.1:2222 run "$JOBNIKD" --config "$cfg" --listen 127.0.0.1:3333 --print-config
  assert_output --partial "listen: 127.0.0.1:3333"
  assert_output --partial "level: debug"
  # A flag given twice: the later one wins (and --help's defaults set nothing).
  run "$JOBNIKD" --config "$cfg" --listen 127.0.0.1:4444 --listen 127.0.0.1:5555 --print-config
  assert_output --partial "listen: 127.0.0.1:5555"
  assert_output --partial "pool_size: 3"
}

@test "invalid configuration is rejected naming the key, exit 2" {
  run "$JOBNIKD" --pool-size zero --print-config
  assert_failure 2
  assert_output --partial "database.pool_size"
  printf 'database:\n  poolsize: 3\n' >"$BATS_TEST_TMPDIR/bad.yaml"
  run "$JOBNIKD" --config "$BATS_TEST_TMPDIR/bad.yaml" --print-config
  assert_failure 2
  assert_output --partial "unknown configuration key 'database.poolsize'"
  JOBNIK_LOG_FORMAT=xml run "$JOBNIKD" --print-config
  assert_failure 2
  assert_output --partial "JOBNIK_LOG_FORMAT"
  run "$JOBNIKD" --config "$BATS_TEST_TMPDIR/missing.yaml" --print-config
  assert_failure 2
  assert_output --partial "cannot read configuration file"
}

@test "an unknown flag is a usage error" {
  run "$JOBNIKD" --no-such-flag
  assert_failure 2
  assert_output --partial "no-such-flag"
}

@test "command-line errors exit 2 (usage), like configuration errors" {
  run "$JOBNIKD" sweep
  assert_failure 2
  run "$JOBNIKCTL" --bogus
  assert_failure 2
  run "$JOBNIK_WORKER" --bogus
  assert_failure 2
}

@test "an empty configuration group is accepted" {
  printf 'database:\nlog:\n  level: warn\n' >"$BATS_TEST_TMPDIR/empty.yaml"
  run "$JOBNIKD" --config "$BATS_TEST_TMPDIR/empty.yaml" --print-config
  assert_success
  assert_output --partial "level: warn"
  # As jobnikd.yaml(5) says: an empty group that is no group of the table is an unknown key.
  printf 'databse:\nlog:\n  level: warn\n' >"$BATS_TEST_TMPDIR/typo.yaml"
  run "$JOBNIKD" --config "$BATS_TEST_TMPDIR/typo.yaml" --print-config
  assert_failure 2
  assert_output --partial "unknown configuration key 'databse'"
}
