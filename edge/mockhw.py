"""Mock hardware for tests and simulators: an MCP3008 on gpiozero's mock SPI pins.

gpiozero's MockFactory bit-bangs SPI over mock pins; this device answers like the chip does, so
the agent's real MCP3008 code reads whatever voltages a test or a simulated resident sets.
"""

from __future__ import annotations

from typing import Any

from gpiozero.pins.mock import MockFactory, MockSPIDevice

from edge.config import SPI0_PINS, SPI0_SELECT

__all__ = ["MockMCP3008", "attach_mock_mcp3008"]


class MockMCP3008(MockSPIDevice):  # type: ignore[misc]
    """The slave side of an MCP3008; set `levels[channel]` (0..1 of full scale) to drive it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rx_buf: list[int] = []
        self.levels = [0.0] * 8
        self.state = "idle"

    def on_start(self) -> None:
        """A new transfer begins (chip selected)."""
        super().on_start()
        self.state = "idle"

    def on_bit(self) -> None:
        """Follow the MCP3008 protocol: start bit, mode bit, three channel bits, then answer."""
        if self.state == "idle":
            if self.rx_buf[-1]:
                self.state = "mode"
                self.rx_buf = []
        elif self.state == "mode":
            self.state = "single" if self.rx_buf[-1] else "diff"
            self.rx_buf = []
        elif self.state in ("single", "diff"):
            if len(self.rx_buf) == 3:
                channel = self.rx_word()
                level = min(max(self.levels[channel], 0.0), 1.0)
                # One sample-and-hold bit and a null bit precede the 10 result bits.
                self.tx_word(round(level * 1023), 12)
                self.state = "result"
        elif self.state == "result" and not self.tx_buf:
            self.state = "idle"
            self.rx_buf = []


def attach_mock_mcp3008(factory: MockFactory, spi_device: int = 0) -> MockMCP3008:
    """Put a mock MCP3008 on SPI0 of a MockFactory (before the agent opens its channels)."""
    return MockMCP3008(
        SPI0_PINS["sclk"],
        SPI0_PINS["mosi"],
        SPI0_PINS["miso"],
        SPI0_SELECT[spi_device],
        pin_factory=factory,
    )
