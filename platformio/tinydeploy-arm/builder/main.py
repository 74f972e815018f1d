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
    CCFLAGS=cpu_flags + ["-ffunction-sections", "-fdata-sections", "-Wall"],
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
    upload = env.Alias("upload", target_bin, "$UPLOADCMD" if env.get("UPLOADCMD") else
                       "echo 'set upload_command in platformio.ini for protocol %s' && false" % protocol)
AlwaysBuild(upload)

Default([target_bin, target_size])
