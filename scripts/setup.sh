#!/usr/bin/env bash
# Installs everything tinydeploy needs on a fresh Debian/Ubuntu machine, then the package itself
# into .venv. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in arm-none-eabi-gcc:gcc-arm-none-eabi qemu-system-arm:qemu-system-arm \
            espeak-ng:espeak-ng sox:sox gcc:gcc ser2net:ser2net; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${tool%%:*}" ] || \
        need_apt+=("${tool##*:}")
done
[ -f /usr/lib/arm-none-eabi/newlib/libc.a ] || [ -d /usr/lib/arm-none-eabi/lib ] || need_apt+=(libnewlib-arm-none-eabi)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${need_apt[*]} libnewlib-arm-none-eabi"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" \
        libnewlib-arm-none-eabi >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PY" -m venv .venv
fi
# reinstall whenever pyproject.toml (the dependency list) changed since the last install
stamp=.venv/.tinydeploy-deps
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || \
   ! .venv/bin/python -c "import tinydeploy, tensorflow, platformio, pytest, labgrid" 2>/dev/null; then
    echo "==> installing tinydeploy and its Python dependencies into .venv (TensorFlow: a few minutes)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[dev]"
    echo "$want" > "$stamp"
fi
# PlatformIO's plain pyserial and labgrid's fork install the same `serial` files, pip laying
# whichever it installs last: keep the fork's (pyproject.toml says why)
if ! .venv/bin/python -c 'import serial, sys, importlib.metadata as m
sys.exit(serial.__version__ != m.version("pyserial-labgrid"))' 2>/dev/null; then
    echo "==> restoring labgrid's pyserial fork over plain pyserial"
    .venv/bin/python -m pip install -q --no-deps --force-reinstall \
        "pyserial-labgrid==$(.venv/bin/python -c 'import importlib.metadata as m
print(m.version("pyserial-labgrid"))')"
fi
