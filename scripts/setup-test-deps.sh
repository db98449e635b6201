#!/usr/bin/env bash
# Installs the system components the test suite drives, from Debian's packages:
#   chromium (the demo page's end-to-end tests), redis-server (the Redis store), nginx (the
#   load-balancer suite). Used by `npm run test:setup` (the README's test command) and by .ci/run,
#   so a developer's machine and CI are set up by the same lines.
# Also strace, optional: `relay bench --strace` counts syscalls with it, and its tests run a real
# count only when it is there (both skip with a line saying so without it); never a failure here.
# Idempotent: a component already present is skipped, and apt is not touched when nothing is missing.
# RELAY_TEST_SKIP=chromium,redis,nginx (any subset) leaves those out here, and the suite then skips
# their tests and says so in its summary (test/helpers/components.ts).
set -euo pipefail

# name | Debian package | binaries that count as "present" (first found wins; /usr/sbin is
# searched too because nginx lives there and it is not on a normal user's PATH)
COMPONENTS=(
  "chromium|chromium|chromium chromium-browser"
  "redis|redis-server|redis-server"
  "nginx|nginx|nginx"
)

skip=",${RELAY_TEST_SKIP:-},"
skip="${skip// /}"
known=",chromium,redis,nginx,"
IFS=',' read -r -a requested <<<"${RELAY_TEST_SKIP:-}"
for name in "${requested[@]}"; do
  name="${name// /}"
  [[ -z "$name" ]] && continue
  if [[ "$known" != *",$name,"* ]]; then
    echo "setup-test-deps: unknown component '$name' in RELAY_TEST_SKIP (known: chromium, redis, nginx)" >&2
    exit 2
  fi
done

present() {
  local bin
  for bin in "$@"; do
    if command -v "$bin" >/dev/null 2>&1 || [[ -x "/usr/sbin/$bin" || -x "/usr/bin/$bin" ]]; then
      return 0
    fi
  done
  return 1
}

missing=()
for entry in "${COMPONENTS[@]}"; do
  IFS='|' read -r name package bins <<<"$entry"
  if [[ "$skip" == *",$name,"* ]]; then
    echo "setup-test-deps: $name skipped (RELAY_TEST_SKIP)"
    continue
  fi
  # shellcheck disable=SC2086 # bins is a space-separated list on purpose
  if present $bins; then
    echo "setup-test-deps: $name present"
  else
    missing+=("$package")
  fi
done

optional=()
if present strace; then
  echo "setup-test-deps: strace present (optional)"
else
  optional+=(strace)
fi

if ((${#missing[@]} == 0)) && { ((${#optional[@]} == 0)) || ! command -v apt-get >/dev/null 2>&1; }; then
  ((${#optional[@]} == 0)) || echo "setup-test-deps: strace missing (optional: relay bench --strace skips without it)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-test-deps: missing ${missing[*]}, and apt-get is not available: install them with your" >&2
  echo "  package manager, or set RELAY_TEST_SKIP to skip their tests (see README, Tests)" >&2
  exit 1
fi

SUDO=()
if [[ "$(id -u)" != "0" ]]; then SUDO=(sudo); fi
echo "setup-test-deps: installing ${missing[*]} ${optional[*]} with apt-get"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" "${optional[@]}"
# Debian starts the services it has just installed; the tests start their own on free ports, so
# those are not needed (and nginx's would hold port 80). Only what this run installed is stopped.
# Best effort: containers have no init system.
for package in "${missing[@]}"; do
  case "$package" in
    redis-server | nginx) "${SUDO[@]}" service "$package" stop >/dev/null 2>&1 || true ;;
  esac
done
