"""Plain state records of the emulator."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FaultPlan", "PdpContext", "Profile"]


@dataclass
class PdpContext:
    """One PDP context (``AT+QICSGP`` / ``AT+QIACT``)."""

    context_type: int = 1
    apn: str = ""
    username: str = ""
    password: str = ""
    authentication: int = 0
    active: bool = False
    #: The network deactivated it (``+QIURC: "pdpdeact"``): ``AT+QIACT`` is
    #: refused until the host has sent ``AT+QIDEACT`` (TCP/IP note §2.5.5).
    lost: bool = False


@dataclass
class Profile:
    """Settings that ``AT&W`` stores and a restart restores."""

    echo: bool
    #: AT+QURCCFG writes it to non-volatile memory at once.
    urcport: str = "uart1"
    ipr: int = 115200


@dataclass
class FaultPlan:
    fail_sends: int = 0
    lose_recv_urcs: int = 0
    fail_commands: list[tuple[str, bytes]] = field(default_factory=list)
    mute_commands: list[str] = field(default_factory=list)
    pre_response_urcs: list[bytes] = field(default_factory=list)
