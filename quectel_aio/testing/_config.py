"""Knobs of the EC200U emulator."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ._ssl_state import SslContextSettings, check_settings
from ._targets import StreamTarget

__all__ = ["FACTORY_CLOCK", "URC_PORTS", "EmulatorConfig"]

#: The values of ``AT+QURCCFG="urcport"``.
URC_PORTS = ("usbat", "usbmodem", "uart1", "all")

#: What the module clock reads after boot until ``AT+CCLK`` sets it.
FACTORY_CLOCK = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """Configuration of a :class:`ModemEmulator`.

    Every knob has the default that matches the documented or observed
    behaviour of a factory-fresh EC200U; alternatives exist for the points the
    documentation leaves open, so that a client can be tested against each.

    Attributes:
        model: reported by ``ATI`` and ``AT+CGMM``.
        manufacturer: reported by ``ATI`` and ``AT+CGMI``.
        firmware: revision string of ``ATI`` / ``AT+CGMR``.
        imei: reported by ``AT+GSN`` / ``AT+CGSN``.
        echo: factory echo setting (``ATE1``).
        cmee: factory ``AT+CMEE`` level (0 plain ``ERROR``, 1 numeric, 2 text).
        emit_rdy_on_start: print ``RDY`` when serving starts (a restart always
            prints it).
        boot_delay: seconds before ``RDY`` is printed.
        boot_urcs: extra URC lines printed right after ``RDY`` (for example
            ``"+CPIN: READY"``).
        prompt: bytes of the ``AT+QSSLSEND`` data prompt: ``b"\\r\\n> "``
            (default), ``b"\\r\\n>"`` or ``b"\\r\\n>\\r\\n"``.
        push_trailing_crlf: direct push appends ``CR LF`` after the payload.
        payload_echo: factory value of ``AT+QISDE``: echo QSSLSEND payloads.
        cert_failure_code: ``+QSSLOPEN`` error for a TLS or certificate
            failure: 579 (documented) or 566 (observed on a sibling module).
        recv_buffer_size: module receive buffer per socket in buffer mode; while
            full the emulator stops reading from the TLS peer.
        send_buffer_size: ``SEND FAIL`` when what the peer has not taken yet
            (the TLS write backlog and, on Linux, the TCP send queue that the
            peer's receive window holds back) plus the new payload would
            exceed this.
        max_push_chunk: largest payload of one direct-push URC.
        ssl_defaults: what every SSL context holds after boot (and after a
            release, see ``release_resets_context``). The note's legible
            defaults, and 0 for the items whose default it leaves illegible
            (``seclevel`` 0 as on a sibling module, ``ignoreinvalidcertsign``,
            ``ignorecertitem``, ``dtlsversion``); set another firmware's
            values here.
        release_resets_context: when ``AT+QSSLCLOSE`` closes the last
            connection of an SSL context, the module "releases" the context
            (note §2.2.5) and its items return to ``ssl_defaults``; ``False``
            (the default) keeps what ``AT+QSSLCFG`` set until a restart.
        host_map: maps a server name used in ``AT+QSSLOPEN`` to a loopback
            address (``"127.0.0.1"``) or address and port (``("127.0.0.1",
            8443)``); SNI and certificate checks still use the original name.
            ``"localhost"`` maps to ``127.0.0.1`` unless overridden.
        targets: maps a server name to an in-process target
            (:class:`SourceTarget`, :class:`SinkTarget`): the socket connects
            to it in memory, without TCP or TLS. Takes precedence over
            ``host_map``.
        allow_non_loopback: allow targets outside 127.0.0.0/8 and ::1.
        command_latency: seconds from the arrival of a command's last byte
            (or of its data) to its final response; the emulator's own
            processing time counts towards it.
        prompt_latency: seconds from the arrival of ``AT+QSSLSEND`` to its
            ``>`` prompt; ``None`` (the default) takes ``command_latency``,
            so a send costs two turnarounds like on a real module.
        urc_after_ok_delay: seconds between a final response and the URCs that
            were held back while the command ran.
        esc_cancel_response: printed when ESC cancels a variable-length send.
        esc_cancel_error_code: ``AT+QIGETERROR`` code after an ESC cancel.
        qsslstate_two_param: accept the ``AT+QSSLSTATE=1,<id>`` form.
        qsslstate_local_port: ``+QSSLSTATE`` shows the TCP local port (as
            in the note's example); ``False`` shows 0 (as a sibling module
            does).
        recv_empty_bare_ok: ``AT+QSSLRECV`` on an empty buffer answers a bare
            ``OK`` (the note's §3.3.3 example) instead of ``+QSSLRECV: 0``
            and ``OK`` (its command table, and a sibling module).
        send_length_query: ``AT+QSSLSEND=<id>,0`` answers ``+QSSLSEND:
            <total>,<acked>,<unacked>`` like the TCP note's ``AT+QISEND=<id>,0``
            (``acked`` counts what left the module); ``False`` (the default,
            the SSL note's range 1-1460) answers ``ERROR``.
        send_input_timeout: seconds of silence after the prompt (or between
            payload bytes) before the send is abandoned with ``ERROR``.
        time_scale: factor applied to module-side timeouts given in seconds by
            AT commands (negotiatetime, QFUPL timeout, QSSLCLOSE timeout), so
            tests can shrink the 10 s minimum.
        connect_timeout: TCP connect timeout of ``AT+QSSLOPEN`` (error 566).
        write_chunking: optional function splitting every output write into
            several writes (to test a client's reassembly).
        ufs_capacity: UFS size in bytes.
        ufs_block_size: UFS allocation unit.
        initial_files: files present in UFS at start (name without prefix).
        initial_clock: module time at boot; ``None`` follows the host clock
            (as if set from the network).
        at_port: the ``<AT_port>`` name of the served port.
        urcport: factory ``AT+QURCCFG="urcport"`` value. Unless it names
            ``at_port`` (or is ``"all"``), general URCs (RDY, the
            ``boot_urcs``, pdpdeact) are not printed; socket URCs always go to
            the port that opened the socket, and URCs injected by a test are
            always printed.
        active_pdp_contexts: PDP contexts that are active after boot.
        transparent_urcs: what happens to URCs raised while a transparent
            session owns the port: ``"held"`` (printed after its ``OK`` or
            ``NO CARRIER``) or ``"dropped"`` (lost; direct-push data is still
            held, since a module discards no received data).
        pdpdeact_first: when the network drops a PDP context, ``+QIURC:
            "pdpdeact"`` comes before the ``+QSSLURC: "closed"`` of its
            sockets; ``False`` sends the closed URCs first (the order is
            undocumented).
        max_command_length: longer command lines are discarded with ``ERROR``.
        escape_guard_time: transparent mode: ``+++`` must be preceded and
            followed by this much silence and typed within this time.
        link_baudrate: if set, pace both directions like an 8N1 serial link
            at this rate (10 bits per byte): a strict serializer without idle
            credit; input is read from the port only as fast as the link
            carries it.
        link_granularity: seconds per delivery slice when paced (1 ms by
            default; 0.016 models a USB-serial adapter's latency timer).

    Raises:
        ValueError: a knob outside what the module could do (an unknown
            ``urcport``, a PDP context ID outside 1-7, an error code that is
            not a module error code, a negative time, an SSL default that
            ``AT+QSSLCFG`` would refuse...), at construction.
    """

    model: str = "EC200U"
    manufacturer: str = "Quectel"
    firmware: str = "EC200UEUAAR03A03M08"
    imei: str = "864000000000009"
    echo: bool = True
    cmee: int = 1
    emit_rdy_on_start: bool = True
    boot_delay: float = 0.0
    boot_urcs: tuple[str, ...] = ()
    prompt: bytes = b"\r\n> "
    push_trailing_crlf: bool = True
    payload_echo: bool = False
    cert_failure_code: int = 579
    recv_buffer_size: int = 64 * 1024
    send_buffer_size: int = 10240
    max_push_chunk: int = 1500
    ssl_defaults: SslContextSettings = field(default_factory=SslContextSettings)
    release_resets_context: bool = False
    host_map: Mapping[str, str | tuple[str, int]] = field(default_factory=dict)
    targets: Mapping[str, StreamTarget] = field(default_factory=dict)
    allow_non_loopback: bool = False
    command_latency: float = 0.0
    prompt_latency: float | None = None
    urc_after_ok_delay: float = 0.0
    esc_cancel_response: bytes = b"\r\nERROR\r\n"
    esc_cancel_error_code: int = 571
    qsslstate_two_param: bool = False
    qsslstate_local_port: bool = True
    recv_empty_bare_ok: bool = False
    send_length_query: bool = False
    send_input_timeout: float = 5.0
    time_scale: float = 1.0
    connect_timeout: float = 150.0
    write_chunking: Callable[[bytes], Iterable[bytes]] | None = None
    ufs_capacity: int = 286720
    ufs_block_size: int = 4096
    initial_files: Mapping[str, bytes] = field(default_factory=dict)
    initial_clock: _dt.datetime | None = FACTORY_CLOCK
    at_port: str = "uart1"
    urcport: str = "uart1"
    active_pdp_contexts: tuple[int, ...] = ()
    pdpdeact_first: bool = True
    transparent_urcs: Literal["held", "dropped"] = "held"
    max_command_length: int = 4096
    escape_guard_time: float = 1.0
    link_baudrate: int | None = None
    link_granularity: float = 0.001

    def __post_init__(self) -> None:
        if self.cmee not in (0, 1, 2):
            raise ValueError("cmee must be 0, 1 or 2")
        if self.prompt not in (b"\r\n> ", b"\r\n>", b"\r\n>\r\n"):
            raise ValueError("prompt must be b'\\r\\n> ', b'\\r\\n>' or b'\\r\\n>\\r\\n'")
        if self.max_push_chunk < 1 or self.recv_buffer_size < 1 or self.send_buffer_size < 1:
            raise ValueError("buffer sizes must be positive")
        if self.link_baudrate is not None and self.link_baudrate <= 0:
            raise ValueError("link_baudrate must be positive")
        if self.command_latency < 0 or (self.prompt_latency is not None and self.prompt_latency < 0):
            raise ValueError("command_latency and prompt_latency must not be negative")
        if self.link_granularity <= 0:
            raise ValueError("link_granularity must be positive")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        check_settings(self.ssl_defaults)
        self._check_ports_and_times()
        if self.initial_clock is not None and self.initial_clock.tzinfo is None:
            raise ValueError("initial_clock must be timezone-aware")

    def _check_ports_and_times(self) -> None:
        if self.urcport not in URC_PORTS:
            raise ValueError(f"urcport must be one of {', '.join(URC_PORTS)}")
        if not self.at_port or '"' in self.at_port or "," in self.at_port:
            raise ValueError("at_port must be a port name such as 'uart1' or 'usbat'")
        if self.transparent_urcs not in ("held", "dropped"):
            raise ValueError("transparent_urcs must be 'held' or 'dropped'")
        if not set(self.active_pdp_contexts) <= set(range(1, 8)):
            raise ValueError("active_pdp_contexts must be PDP context IDs 1-7")
        if not 550 <= self.cert_failure_code <= 579:
            raise ValueError("cert_failure_code must be a module error code (550-579)")
        if self.esc_cancel_error_code != 0 and not 550 <= self.esc_cancel_error_code <= 579:
            raise ValueError("esc_cancel_error_code must be 0 or a module error code (550-579)")
        delays = ("boot_delay", "urc_after_ok_delay", "escape_guard_time")
        for name in delays:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("send_input_timeout", "connect_timeout", "max_command_length", "ufs_block_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.ufs_capacity < self.ufs_block_size:
            raise ValueError("ufs_capacity must hold at least one ufs_block_size block")
