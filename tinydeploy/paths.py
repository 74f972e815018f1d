"""Where the project's own files live (kernels, templates, boards, PlatformIO platform)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
KERNELS = FIRMWARE / "kernels"
TEMPLATES = FIRMWARE / "templates"
BOARDS = ROOT / "boards"
PIO_PLATFORM = ROOT / "platformio" / "tinydeploy-arm"
SHARED_MODELS = ROOT.parent / "shared" / "models"


def kernel_sources() -> list[Path]:
    """The C files of the int8 kernel library."""
    return sorted(KERNELS.glob("*.c"))
