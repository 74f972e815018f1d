"""The board farm on labgrid: boards plugged into other machines, reserved through a coordinator.

labgrid's pieces, as tinydeploy uses them:
- the coordinator (`labgrid-coordinator`) knows every place and who holds it;
- an exporter (`labgrid-exporter`) on each host that owns boards publishes their serial ports
  (through ser2net, as RFC 2217 ports) and debug probes; `exporter_config` writes its file from a
  board file;
- a place groups one board's resources and carries the board's name as its `board` tag, so a
  client knows which firmware to build for it;
- a client acquires a place, flashes it through a labgrid driver (`labgrid-client bootstrap` with
  the environment `client_env` writes: OpenOCD for a real board, `labgrid_qemu.QemuFlashDriver` for
  a simulated one) and talks to the firmware over the exported serial port.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from tinydeploy.boards import Board
from tinydeploy.errors import TinyDeployError
from tinydeploy.serial_link import DeviceLink
from tinydeploy.targets import Target

# the processes started beside a coordinator session (labgrid-client, QEMU, oracles) never use
# its gRPC channel: without fork handlers gRPC neither runs them nor logs that it skipped them
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

DEFAULT_COORDINATOR = "127.0.0.1:20408"   # labgrid's own default
FLASH_TIMEOUT = 300.0                      # seconds for labgrid-client to flash a place
SERIAL_TIMEOUT = 30.0                      # seconds for an exporter to publish a serial port


class FlashError(TinyDeployError):
    """Flashing a place failed: its board, probe or flash service did not take the firmware."""


def coordinator_address(given: str | None) -> str:
    """--coordinator, else LG_COORDINATOR (as labgrid's own tools read it), else labgrid's
    default."""
    return given or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


# ---- configuration files ----

def openocd_commands(board: Board) -> list[str]:
    """The board file's OpenOCD upload command as the OpenOCD commands labgrid's OpenOCDDriver
    runs: each `-f FILE` becomes `source [find FILE]`, each `-c CMD` stays, `$SOURCE` becomes the
    image labgrid copied to the exporter host."""
    cmd = shlex.split(board.upload_command or "")
    if not cmd or Path(cmd[0]).name != "openocd":
        raise TinyDeployError(
            f"board {board.name} is flashed with {cmd[0] if cmd else 'PlatformIO'}, not OpenOCD",
            "the farm flashes real boards through labgrid's OpenOCDDriver: give the board an "
            f"openocd upload_command in {board.path}")
    out = []
    args = iter(cmd[1:])
    for flag in args:
        value = next(args, None)
        if flag not in ("-f", "-c") or value is None:
            raise TinyDeployError(f"board {board.name}: '{flag}' in its upload_command",
                                  f"use only -f FILE and -c COMMAND there ({board.path})")
        out.append(f"source [find {value}]" if flag == "-f" else
                   value.replace("$SOURCE", "{filename}"))
    return out


def exporter_config(board: Board, place: str, serial: str | None = None,
                    probe: str | None = None, simulator: str | None = None,
                    link: Path | None = None, exporter: str | None = None) -> str:
    """labgrid-exporter's YAML for one board, as a resource group named after its place, with the
    labgrid-client commands that create the place in a comment.

    A real board: its serial port (`serial`: a device path; /dev/serial/by-id/... survives
    replugging) and its debug probe (`probe`: the USB serial number OpenOCD flashes through). A
    simulated board: the serial link and the flash service of `tinydeploy farm simulate` running
    on that host (`simulator`: HOST:PORT as clients reach it)."""
    import yaml

    from tinydeploy.farm_sim import default_link

    resources: dict[str, Any]
    if board.is_qemu:
        if simulator is None or serial or probe:
            raise TinyDeployError(f"{board.name} is simulated: it needs --simulator HOST:PORT",
                                  "give the address of 'tinydeploy farm simulate' for this place "
                                  "(and no --serial or --probe)")
        host, port = host_port(simulator, "--simulator")
        resources = {"RawSerialPort": {"port": str(link or default_link(place)),
                                       "speed": board.baud},
                     "NetworkQemuFlash": {"host": host, "port": port}}
    else:
        if serial is None or simulator:
            raise TinyDeployError(f"{board.name} is a real board: it needs --serial DEVICE",
                                  "give its serial port, e.g. /dev/serial/by-id/usb-..., and "
                                  "--probe SERIAL for its debug probe")
        openocd_commands(board)  # the board must be one OpenOCD can flash
        resources = {"RawSerialPort": {"port": serial, "speed": board.baud}}
        if probe:
            resources["USBDebugger"] = {"match": {"ID_SERIAL_SHORT": probe}}
    name = exporter or socket.gethostname()
    no_probe = "" if board.is_qemu or probe else (
        "## No --probe: labgrid cannot flash this board; give its debug probe's USB serial.\n")
    # '##' comments: labgrid reads the file as a jinja2 template where '#' starts a statement
    head = (f"## labgrid-exporter configuration: {board.name} as place '{place}'.\n{no_probe}"
            f"## Run: labgrid-exporter -c COORDINATOR -n {name} THIS_FILE\n"
            "## Create the place once, from any client:\n"
            f"##   labgrid-client -x COORDINATOR -p {place} create\n"
            f"##   labgrid-client -x COORDINATOR -p {place} add-match '{name}/{place}/*'\n"
            f"##   labgrid-client -x COORDINATOR -p {place} set-tags board={board.name}\n")
    return head + yaml.safe_dump({place: resources}, sort_keys=False)


def client_env(board: Board, place: str, coordinator: str | None = None) -> dict[str, Any]:
    """The labgrid environment that flashes `place`: its RemotePlace and the driver for the
    board (OpenOCD with the board file's commands, or the simulated board's flash driver)."""
    env: dict[str, Any] = {}
    if board.is_qemu:
        env["imports"] = ["tinydeploy.labgrid_qemu"]
        drivers: dict[str, Any] = {"QemuFlashDriver": {}}
    else:
        drivers = {"OpenOCDDriver": {"load_commands": openocd_commands(board)}}
    env["targets"] = {place: {"resources": {"RemotePlace": {"name": place}}, "drivers": drivers}}
    if coordinator:
        env["options"] = {"coordinator_address": coordinator}
    return env


def client_env_yaml(board: Board, place: str, coordinator: str | None = None) -> str:
    import yaml

    return (f"# labgrid environment for place '{place}' ({board.name}): labgrid-client -c "
            f"THIS_FILE -p {place} bootstrap firmware.elf\n"
            + yaml.safe_dump(client_env(board, place, coordinator), sort_keys=False))


def host_port(text: str, option: str) -> tuple[str, int]:
    """HOST:PORT as given to `option`, split, the port a number."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise TinyDeployError(f"{option} {text!r} is not HOST:PORT", f"write {option} HOST:PORT")
    return host, int(port)


# ---- the coordinator ----

@dataclass
class Place:
    """A place as the coordinator describes it."""

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    holder: str | None = None        # "host/user" of whoever has acquired it
    reservation: str | None = None   # token of the reservation it is allocated to

    @property
    def board(self) -> str | None:
        return self.tags.get("board")


class Farm:
    """A session with the labgrid coordinator: the places, acquiring and releasing them, and the
    serial ports their exporters publish. Use it from one thread (its event loop is labgrid's)."""

    def __init__(self, address: str) -> None:
        from labgrid.remote.client import start_session

        self.address = address
        try:
            self.session = start_session(address)
        except Exception as exc:  # noqa: BLE001 - grpc and labgrid raise many kinds
            raise TinyDeployError(f"cannot reach the labgrid coordinator at {address}: {exc}",
                                  "start labgrid-coordinator there, or point --coordinator or "
                                  "LG_COORDINATOR at it") from None
        self.loop = self.session.loop
        self.me = f"{self.session.gethostname()}/{self.session.getuser()}"

    def pump(self, seconds: float = 0.0) -> None:
        """Let the session take the coordinator's updates for a while."""
        self.loop.run_until_complete(asyncio.sleep(seconds))
        if self.session.stopping.is_set():
            raise TinyDeployError(f"lost the labgrid coordinator at {self.address}",
                                  "check that labgrid-coordinator still runs, then retry")

    def place(self, name: str) -> Place:
        p = self.session.places.get(name)
        if p is None:
            raise TinyDeployError(f"no place '{name}' on the coordinator at {self.address}",
                                  f"list them with labgrid-client -x {self.address} places")
        return Place(p.name, dict(p.tags), p.acquired, p.reservation)

    def places(self, selector: str) -> list[Place]:
        """The places a --places value names: NAME,NAME or tag filters KEY=VALUE[,KEY=VALUE]."""
        parts = [s.strip() for s in selector.split(",") if s.strip()]
        if not parts:
            raise TinyDeployError("no place given", "name places (a,b) or tags (board=qemu-m4)")
        if all("=" in s for s in parts):
            wanted = dict(s.split("=", 1) for s in parts)
            found = [self.place(n) for n in sorted(self.session.places)]
            found = [p for p in found if all(p.tags.get(k) == v for k, v in wanted.items())]
            if not found:
                raise TinyDeployError(f"no place on {self.address} has the tags {selector}",
                                      f"list them with labgrid-client -x {self.address} places "
                                      "-v, or tag one with set-tags")
            return found
        if any("=" in s for s in parts):
            raise TinyDeployError(f"--places {selector!r} mixes names and tags",
                                  "give either place names (a,b) or tags (board=qemu-m4)")
        return [self.place(n) for n in dict.fromkeys(parts)]

    def why_busy(self, place: Place) -> str | None:
        """Who keeps this client from acquiring the place, or None where it is free."""
        if place.holder:
            mine = " (you: another run, or one that did not release it)" \
                if place.holder == self.me else ""
            return f"place {place.name} is held by {place.holder}{mine}"
        if place.reservation:
            owner = self._reservation_owner(place.reservation)
            if owner != self.me:
                return f"place {place.name} is reserved for {owner} (token {place.reservation})"
        return None

    def _reservation_owner(self, token: str) -> str:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        answer = self.loop.run_until_complete(
            self.session.stub.GetReservations(pb.GetReservationsRequest()))
        return next((r.owner for r in answer.reservations if r.token == token), "someone")

    def try_acquire(self, name: str) -> str | None:
        """Acquire the place; None when it is ours now, else why not (who holds it)."""
        import grpc
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        busy = self.why_busy(self.place(name))
        if busy:
            return busy

        async def acquire() -> None:
            await self.session.stub.AcquirePlace(pb.AcquirePlaceRequest(placename=name))
            await self.session.sync_with_coordinator()

        try:
            self.loop.run_until_complete(acquire())
        except grpc.aio.AioRpcError as exc:
            self.pump(0.1)
            return self.why_busy(self.place(name)) or f"place {name}: {exc.details()}"
        return None

    def release(self, name: str) -> None:
        """Release a place this client holds."""
        import grpc
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        async def release() -> None:
            await self.session.stub.ReleasePlace(pb.ReleasePlaceRequest(placename=name))
            await self.session.sync_with_coordinator()

        try:
            self.loop.run_until_complete(release())
        except (grpc.aio.AioRpcError, OSError) as exc:
            raise TinyDeployError(f"could not release place {name}: {exc}",
                                  f"release it with labgrid-client -x {self.address} -p {name} "
                                  "release") from None

    def serial_url(self, name: str, timeout: float = SERIAL_TIMEOUT) -> str:
        """The pyserial URL of the place's exported serial port, once its exporter has started
        ser2net for it (it does when the place is acquired)."""
        from labgrid.resource.serialport import NetworkSerialPort
        from labgrid.util.proxy import proxymanager

        deadline = time.monotonic() + timeout
        while True:
            place = self.session.places[name]
            entries = [e for (_, cls), e in self.session.get_target_resources(place).items()
                       if cls == "NetworkSerialPort"]
            if len(entries) > 1:
                raise TinyDeployError(f"place {name} has {len(entries)} serial ports",
                                      "match one board's resources per place")
            if entries and entries[0].avail and entries[0].args.get("port"):
                break
            if time.monotonic() > deadline:
                raise TinyDeployError(f"place {name} has no serial port its exporter serves",
                                      "check the place's matches and that its exporter runs "
                                      "(labgrid-client -p NAME show)")
            self.pump(0.2)
        entry = entries[0]
        port = NetworkSerialPort(None, "serial", **entry.args)
        port.extra = entry.extra
        host, tcp = proxymanager.get_host_and_port(port)
        scheme = "rfc2217" if port.protocol == "rfc2217" else "socket"
        return f"{scheme}://{host}:{tcp}" + ("?ign_set_control" if scheme == "rfc2217" else "")

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.run_until_complete(self.session.stop())
            self.loop.run_until_complete(self.session.close())

    def __enter__(self) -> "Farm":
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class PlaceTarget(Target):
    """A board on an acquired place: flashed by labgrid's own client through the place's driver,
    reached over the serial port its exporter publishes. Thread-safe: it holds no session (the
    Farm that acquired the place releases it)."""

    def __init__(self, board: Board, place: str, coordinator: str, serial_url: str) -> None:
        self.board, self.place = board, place
        self.coordinator, self.serial_url = coordinator, serial_url

    def flash(self, elf: Path, project: Path) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="tinydeploy-env-") as env:
            env.write(client_env_yaml(self.board, self.place, self.coordinator))
            env.flush()
            cmd = [sys.executable, "-m", "labgrid.remote.client", "-x", self.coordinator,
                   "-c", env.name, "-p", self.place, "bootstrap", str(elf)]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True,
                                      timeout=FLASH_TIMEOUT, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise FlashError(f"flashing place {self.place} took over {FLASH_TIMEOUT:g} s",
                                 "check its debug probe and its exporter host") from None
        if done.returncode:
            lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
            why = re.sub(r"^[\w.-]+: ", "", lines[-1]) if lines else f"status {done.returncode}"
            raise FlashError(f"flashing place {self.place} failed: {why}",
                             "check the place's board, probe and exporter host")

    def link(self, timeout: float = 30.0) -> DeviceLink:
        return DeviceLink.open(self.serial_url, self.board.baud, timeout=timeout)

    @property
    def description(self) -> str:
        return f"{self.board.name} on place {self.place}"
