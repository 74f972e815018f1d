"""Find the external tools (arm-none-eabi-gcc, QEMU, PlatformIO) and prepare PlatformIO offline.

PlatformIO normally downloads its SCons package from its registry, which is unreachable here. We
give it a private core folder holding a `tool-scons` package that runs the SCons installed from
PyPI, so no PlatformIO command ever needs the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from tinydeploy.errors import TinyDeployError

APT_HINT = ("install it: sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
            "qemu-system-arm (or run scripts/setup.sh)")
SCONS_VERSION = "4.41101.0"  # PlatformIO 6.2's tool-scons ~4.41101.0 is SCons 4.11.1


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise TinyDeployError(f"{tool} not found on PATH", APT_HINT)
    return path


def cache_dir() -> Path:
    d = Path(os.environ.get("TINYDEPLOY_CACHE", Path.home() / ".cache" / "tinydeploy"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def platformio_env() -> dict[str, str]:
    """Environment for running PlatformIO offline with our private core folder (one per checkout
    of tinydeploy: PlatformIO records the platform's path there, and two checkouts building at
    once must not rewrite each other's records)."""
    from tinydeploy.paths import ROOT

    core = cache_dir() / f"platformio-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]}"
    pkg = core / "packages" / "tool-scons"
    pkg.mkdir(parents=True, exist_ok=True)
    _write_if_changed(pkg / "package.json", json.dumps(
        {"name": "tool-scons", "version": SCONS_VERSION,
         "description": "SCons from PyPI, wrapped by tinydeploy for offline PlatformIO"}))
    _write_if_changed(pkg / ".piopm", json.dumps(
        {"type": "tool", "name": "tool-scons", "version": SCONS_VERSION,
         "spec": {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None,
                  "uri": None}}))
    _write_if_changed(pkg / "scons.py",
                      "import sys\nfrom SCons.Script.Main import main\nsys.exit(main())\n")
    env = dict(os.environ)
    env.update(PLATFORMIO_CORE_DIR=str(core), PLATFORMIO_NO_ANSI="true",
               PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
               PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL="3650",
               PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD="0")
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def platformio_command() -> list[str]:
    try:
        import platformio  # noqa: F401
    except ImportError:
        raise TinyDeployError("PlatformIO is not installed in this Python environment",
                              "pip install platformio (or run scripts/setup.sh)") from None
    return [sys.executable, "-m", "platformio"]
