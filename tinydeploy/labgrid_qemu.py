"""labgrid's half of a simulated place: the resource an exporter publishes for a QEMU board's
flash service (`tinydeploy farm simulate`) and the driver that flashes through it.

labgrid flashes a real board by running OpenOCD on the exporter host; a simulated board is
flashed by sending its ELF to the service beside the exporter, which restarts QEMU with it (its
UART stays a pseudo-terminal behind one path, exported through ser2net like a USB serial port).
Importing this module registers both classes with labgrid, which is what the client environment's
`imports:` line (`tinydeploy farm env`) does for `labgrid-client bootstrap`.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.protocol import BootstrapProtocol
from labgrid.resource.common import NetworkResource
from labgrid.step import step
from labgrid.util.proxy import proxymanager

from tinydeploy.errors import TinyDeployError

FLASH_TIMEOUT = 60.0    # seconds for the service to restart QEMU and see the firmware boot


@target_factory.reg_resource
@attr.s(eq=False)
class NetworkQemuFlash(NetworkResource):
    """The flash service of one simulated board: HTTP on `host`:`port` of the exporter host."""

    port = attr.ib(validator=attr.validators.instance_of(int))


@target_factory.reg_driver
@attr.s(eq=False)
class QemuFlashDriver(Driver, BootstrapProtocol):
    """Flashes a simulated board: PUT /flash with the ELF; the service answers once QEMU runs it."""

    bindings = {"flash": "NetworkQemuFlash"}

    @Driver.check_active
    @step(args=["filename"])
    def load(self, filename: str | None = None) -> None:
        if filename is None:
            raise TinyDeployError("no firmware to flash", "give the ELF file to load")
        host, port = proxymanager.get_host_and_port(self.flash, force_port=self.flash.port)
        url = f"http://{host}:{port}/flash"
        request = urllib.request.Request(url, data=Path(filename).read_bytes(), method="PUT")
        try:
            with urllib.request.urlopen(request, timeout=FLASH_TIMEOUT) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            raise TinyDeployError(f"the simulated board at {url} refused the firmware: "
                                  f"{exc.read().decode(errors='replace').strip()}",
                                  "check the ELF is built for this place's board") from None
        except (urllib.error.URLError, OSError) as exc:
            raise TinyDeployError(f"no flash service at {url}: {exc}",
                                  "start 'tinydeploy farm simulate' for this place on its "
                                  "exporter host") from None
