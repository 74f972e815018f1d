"""SCons build script of the tinydeploy-arm PlatformIO platform.

CPU flags come from the board manifest's `build.td_cpu_flags` (written by tinydeploy from the
board's data file); the toolchain is the system's arm-none-eabi-gcc, found on PATH.
"""

import os
import shutil
import sys

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()

if not shutil.which("arm-none-eabi-gcc"):
    sys.stderr.write("Error: arm-none-eabi-gcc not found on PATH "
                     "(install it: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)\n")
    env.Exit(1)

cpu_flags = list(board.get("build.td_cpu_flags", []))

env.Replace(
    AR="arm-none-eabi-gcc-ar",
    AS="arm-none-eabi-gcc",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.isr_vector|\.text|\.rodata|\.data)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
)
env.Append(
    ASFLAGS=cpu_flags + ["-x", "assembler-with-cpp"],
    # -ffp-contract=off: no fused multiply-adds, so float kernels round as the host and the
    # reference kernels do (GNU C would fuse them on cores with an FPU)
    CCFLAGS=cpu_flags + ["-ffunction-sections", "-fdata-sections", "-Wall", "-ffp-contract=off"],
    CFLAGS=["-std=gnu99"],
    LINKFLAGS=cpu_flags + ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                           "-Wl,--gc-sections"],
    LIBS=["m"],
)
env.Replace(LDSCRIPT_PATH=os.path.join(env.subst("$PROJECT_DIR"), "linker.ld"))

target_elf = env.BuildProgram()
target_bin = env.Command(os.path.join("$BUILD_DIR", "firmware.bin"), target_elf,
                         "$OBJCOPY -O binary $SOURCE $TARGET")
target_size = env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))
AlwaysBuild(target_size)

protocol = env.subst("$UPLOAD_PROTOCOL") or board.get("upload.protocol", "")
if protocol == "qemu":
    qemu = board.get("build.td_qemu_command", "")
    upload = env.Alias("upload", target_elf, qemu + " -kernel $SOURCE")
else:
    # the board file's upload_command (platformio.ini) runs on the image it names
    image = {"elf": target_elf, "bin": target_bin}.get(board.get("build.td_upload_image", "bin"))
    if image is None:
        image = os.path.join("$BUILD_DIR", "firmware.uf2")
    upload = env.Alias("upload", image, "$UPLOADCMD" if env.get("UPLOADCMD") else
                       "echo 'set upload_command in platformio.ini for protocol %s' && false" % protocol)
AlwaysBuild(upload)

Default([target_bin, target_size])


def _write_uf2(target, source, env):
    """UF2 (the RP2040 bootrom's drag-and-drop format): 256 payload bytes per 512-byte block."""
    import struct

    family = int(board.get("build.td_uf2_family"))
    data = open(str(source[0]), "rb").read()
    base = int(board.get("build.td_load_address"), 0)
    blocks = [data[i:i + 256] for i in range(0, len(data), 256)]
    with open(str(target[0]), "wb") as f:
        for n, chunk in enumerate(blocks):
            header = struct.pack("<IIIIIIII", 0x0A324655, 0x9E5D5157, 0x00002000, base + 256 * n,
                                 256, n, len(blocks), family)
            f.write(header + chunk.ljust(476, b"\0") + struct.pack("<I", 0x0AB16F30))
    return None


if board.get("build.td_uf2_family", None):
    target_uf2 = env.Command(os.path.join("$BUILD_DIR", "firmware.uf2"), target_bin,
                             env.VerboseAction(_write_uf2, "Writing UF2 $TARGET"))
    Default(target_uf2)
