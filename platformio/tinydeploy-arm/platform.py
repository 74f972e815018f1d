"""tinydeploy's offline PlatformIO platform: nothing to download, the toolchain comes from the OS."""

from platformio.public import PlatformBase


class TinydeployarmPlatform(PlatformBase):
    """Bare-metal Cortex-M with the system arm-none-eabi-gcc."""
