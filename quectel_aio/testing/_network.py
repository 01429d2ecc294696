"""The emulated module's network side: real TLS to loopback targets.

``build_ssl_context`` turns the settings of one SSL context (``AT+QSSLCFG``)
and the UFS files into an :class:`ssl.SSLContext` that behaves like the
module's embedded TLS stack as far as Python's ``ssl`` allows:

* ``sslversion`` pins the protocol range; TLS 1.3 is never offered (the module
  has none); SSL 3.0 cannot be offered, so ``sslversion`` 0 fails the open.
* ``ciphersuite`` offers the table's suite(s) that OpenSSL still implements.
* ``seclevel`` 0 verifies nothing; 1 needs the ``cacert`` file; 2 also loads
  ``clientcert``/``clientkey`` when configured.
* Certificate dates are never checked against the host clock by OpenSSL
  (``X509_V_FLAG_NO_CHECK_TIME``); with ``ignorelocaltime`` 0 the leaf's
  validity is checked against the *module* clock after the handshake.
* The host name is checked after the handshake (subjectAltName, CN when the
  certificate has no SAN), independent of ``sni``.

:class:`TlsSocket` owns one connection and its module receive buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import enum
import ipaddress
import os
import socket
import ssl
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from cryptography import x509
from cryptography.x509.oid import NameOID

from ._ssl_state import ALL_CIPHERS, CIPHER_SUITES, SslContextSettings
from ._targets import find_target

if TYPE_CHECKING:
    from ._config import EmulatorConfig

__all__ = [
    "OpenFailure",
    "SocketEvents",
    "SocketState",
    "TlsSocket",
    "build_ssl_context",
    "hostname_matches",
    "normalize_file_name",
    "resolve_target",
]

#: OpenSSL's X509_V_FLAG_NO_CHECK_TIME (not exported by the ssl module).
X509_V_FLAG_NO_CHECK_TIME = 0x200000
#: ignorecertitem bits (mbedTLS MBEDTLS_X509_BADCERT_* values).
IGNORE_EXPIRED = 0x01
IGNORE_CN_MISMATCH = 0x04
IGNORE_NOT_TRUSTED = 0x08
IGNORE_ALL = 0xFFFFF

ERR_NOT_SUPPORTED = 555
ERR_DNS = 565
ERR_CONNECT = 566
ERR_TIMEOUT = 569

_READ_CHUNK = 16384
#: Linux ``SIOCOUTQ`` (same value as ``TIOCOUTQ``): bytes in a TCP socket's send queue.
_SIOCOUTQ = 0x5411
_STREAM_LIMIT = 16384


class OpenFailure(Exception):
    """Opening failed with a module error code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class SocketState(enum.IntEnum):
    """``<socket_state>`` of ``+QSSLSTATE``."""

    INITIAL = 0
    OPENING = 1
    CONNECTED = 2
    CLOSING = 4


def normalize_file_name(name: str) -> str | None:
    """Strip an optional ``UFS:`` prefix; ``None`` if the name is invalid."""
    if name[:4].upper() == "UFS:":
        name = name[4:]
    if not name or len(name) > 80 or ":" in name or "/" in name or "\\" in name or name in (".", ".."):
        return None
    if any(ord(c) < 0x21 or ord(c) > 0x7E or c in '"*?<>|,;' for c in name):
        return None
    return name


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def resolve_target(
    host: str, port: int, host_map: Mapping[str, str | tuple[str, int]], allow_non_loopback: bool
) -> tuple[str, int]:
    """Map a QSSLOPEN server address to a connect target.

    Raises:
        OpenFailure: 565 for an unmapped DNS name, 566 for a forbidden address.
    """
    mapped = host_map.get(host)
    if mapped is None:
        mapped = host_map.get(host.lower())
    if mapped is None and host.lower() == "localhost":
        mapped = "127.0.0.1"
    if mapped is not None:
        target_host, target_port = (mapped, port) if isinstance(mapped, str) else mapped
    else:
        target_host, target_port = host, port
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not allow_non_loopback:
                raise OpenFailure(ERR_DNS) from None
            return target_host, target_port
    if not allow_non_loopback and not _is_loopback(target_host):
        raise OpenFailure(ERR_CONNECT)
    return target_host, target_port


def _load_file(files: Mapping[str, bytes], path: str, code: int) -> bytes:
    name = normalize_file_name(path) if path else None
    if name is None or name not in files:
        raise OpenFailure(code)
    return files[name]


def build_ssl_context(
    settings: SslContextSettings, files: Mapping[str, bytes], failure_code: int
) -> ssl.SSLContext:
    """Build the client context for one open.

    Raises:
        OpenFailure: ``failure_code`` for unusable settings or files, 555 for DTLS.
    """
    if settings.dtls:
        raise OpenFailure(ERR_NOT_SUPPORTED)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ranges = {
        1: (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1),
        2: (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1),
        3: (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
        4: (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_2),
    }
    if settings.sslversion not in ranges:
        raise OpenFailure(failure_code)  # SSL 3.0: not available in OpenSSL
    low, high = ranges[settings.sslversion]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = low
        ctx.maximum_version = high
    codes = list(CIPHER_SUITES) if settings.ciphersuite == ALL_CIPHERS else [settings.ciphersuite]
    available = []
    for code in codes:
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            probe.set_ciphers(CIPHER_SUITES[code] + ":@SECLEVEL=0")
        except ssl.SSLError:
            continue
        available.append(CIPHER_SUITES[code])
    if not available:
        raise OpenFailure(failure_code)
    # Old protocol versions only work at OpenSSL security level 0.
    level = "@SECLEVEL=0" if low < ssl.TLSVersion.TLSv1_2 else "@SECLEVEL=1"
    ctx.set_ciphers(":".join(available) + ":" + level)
    ctx.verify_flags |= X509_V_FLAG_NO_CHECK_TIME
    if settings.ignoremulticertchainverify:
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if settings.seclevel == 0:
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ca = _load_file(files, settings.cacert, failure_code)
    try:
        if b"-----BEGIN" in ca:
            ctx.load_verify_locations(cadata=ca.decode("ascii", "replace"))
        else:
            ctx.load_verify_locations(cadata=ca)
    except (ssl.SSLError, ValueError):
        raise OpenFailure(failure_code) from None
    ignore_chain = (
        settings.ignoreinvalidcertsign == 1
        or settings.ignorecertitem & IGNORE_NOT_TRUSTED
        or settings.ignorecertitem == IGNORE_ALL
    )
    ctx.verify_mode = ssl.CERT_NONE if ignore_chain else ssl.CERT_REQUIRED
    if settings.seclevel == 2 and (settings.clientcert or settings.clientkey):
        cert = _load_file(files, settings.clientcert, failure_code)
        key = _load_file(files, settings.clientkey, failure_code)
        _load_client_identity(ctx, cert, key, failure_code)
    return ctx


def _load_client_identity(ctx: ssl.SSLContext, cert: bytes, key: bytes, failure_code: int) -> None:
    # ssl can only load a key from a file: write both to a private temporary
    # directory that is removed right after loading.
    with tempfile.TemporaryDirectory(prefix="quectel-emu-") as tmp:
        cert_path = os.path.join(tmp, "client.pem")
        key_path = os.path.join(tmp, "client.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except (ssl.SSLError, ValueError, OSError):
            raise OpenFailure(failure_code) from None


def _dns_match(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern == host:
        return True
    if pattern.startswith("*.") and "*" not in pattern[2:]:
        head, sep, rest = host.partition(".")
        return bool(sep) and bool(head) and rest == pattern[2:] and "." in rest
    return False


def hostname_matches(cert: x509.Certificate, host: str) -> bool:
    """Check ``host`` against the certificate's SAN (or CN without a SAN)."""
    host = host.lower().rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = [str(attr.value) for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        return any(_dns_match(name, host) for name in names)
    if address is not None and address in san.get_values_for_type(x509.IPAddress):
        return True
    return any(_dns_match(name, host) for name in san.get_values_for_type(x509.DNSName))


def check_peer(der: bytes | None, settings: SslContextSettings, host: str, now: _dt.datetime) -> bool:
    """Post-handshake checks the module does itself (dates, host name)."""
    if settings.seclevel == 0 or settings.ignorecertitem == IGNORE_ALL:
        return True
    if der is None:
        return False
    cert = x509.load_der_x509_certificate(der)
    check_dates = settings.ignorelocaltime == 0 and not settings.ignorecertitem & IGNORE_EXPIRED
    if check_dates and not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return False
    return bool(settings.ignorecertitem & IGNORE_CN_MISMATCH) or hostname_matches(cert, host)


def _kernel_send_queue(raw: socket.socket | None) -> int:
    if raw is None or not sys.platform.startswith("linux"):
        return 0
    import fcntl  # POSIX only

    try:
        answer = fcntl.ioctl(raw.fileno(), _SIOCOUTQ, bytes(4))
    except (OSError, ValueError):
        return 0
    return max(int.from_bytes(answer, sys.byteorder, signed=True), 0)


class SocketEvents(Protocol):
    """What a :class:`TlsSocket` reports to the emulator."""

    def socket_opened(self, sock: TlsSocket, err: int) -> None: ...

    def socket_data(self, sock: TlsSocket, was_empty: bool) -> None: ...

    async def socket_push(self, sock: TlsSocket, data: bytes) -> None: ...

    def socket_closed(self, sock: TlsSocket) -> None: ...

    async def socket_transparent(self, sock: TlsSocket, data: bytes) -> None: ...


class TlsSocket:
    """One emulated SSL client socket (``<clientID>``), as ``ModemEmulator.sockets`` holds it.

    Tests read these attributes; only the emulator changes them.

    Attributes:
        client_id: the ``<clientID>`` (0-11).
        cid: the PDP context it was opened on.
        ctx_id: the SSL context it was opened with.
        host: the server address given to ``AT+QSSLOPEN``.
        port: the server port given to ``AT+QSSLOPEN``.
        mode: the access mode (0 buffer, 1 direct push, 2 transparent).
        settings: the SSL context's settings when it was opened.
        state: the ``<socket_state>`` (:class:`SocketState`).
        remote_ip: the peer's address once connected, else ``None``.
        local_port: the local TCP port once connected, else 0.
        recv_buffer: bytes received and not yet read (buffer mode).
        total_received: bytes received from the peer so far.
        total_read: bytes handed to the host so far (read, pushed or raw).
        total_sent: bytes accepted with ``SEND OK`` (or sent in transparent mode).
    """

    def __init__(
        self,
        events: SocketEvents,
        cfg: EmulatorConfig,
        *,
        client_id: int,
        cid: int,
        ctx_id: int,
        host: str,
        port: int,
        mode: int,
        settings: SslContextSettings,
        files: Mapping[str, bytes],
        clock: Callable[[], _dt.datetime],
    ) -> None:
        self.client_id = client_id
        self.cid = cid
        self.ctx_id = ctx_id
        self.host = host
        self.port = port
        self.mode = mode
        self.settings = settings
        self.state = SocketState.OPENING
        self.remote_ip: str | None = None
        self.local_port = 0
        self.recv_buffer = bytearray()
        self.total_received = 0
        self.total_read = 0
        self.total_sent = 0
        self.urc_armed = True
        #: Transparent mode: CONNECT has been printed, bytes may flow.
        self.transparent_ready = False
        self._events = events
        self._cfg = cfg
        self._files = dict(files)
        self._clock = clock
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._space = asyncio.Event()
        self.push_lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None
        #: Resolves to the open result (0 or an error code).
        self.open_result: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def start(self) -> asyncio.Task[None]:
        """Start opening in the background."""
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self.task

    async def _run(self) -> None:
        try:
            err = await self._open()
        except asyncio.CancelledError:
            self.abort_transport()
            raise
        if err:
            self.abort_transport()
            self.state = SocketState.INITIAL
            self.open_result.set_result(err)
            self._events.socket_opened(self, err)
            return
        self.state = SocketState.CONNECTED
        self.open_result.set_result(0)
        self._events.socket_opened(self, 0)
        await self._read_loop()

    async def _open(self) -> int:
        cfg = self._cfg
        target = find_target(cfg.targets, self.host)
        if target is not None:  # in process: no TCP, no TLS (see _targets)
            self.remote_ip = "127.0.0.1"
            self._reader, self._writer = target.connect()
            return 0
        try:
            target_host, target_port = resolve_target(
                self.host, self.port, cfg.host_map, cfg.allow_non_loopback
            )
            ctx = build_ssl_context(self.settings, self._files, cfg.cert_failure_code)
        except OpenFailure as failure:
            return failure.code
        try:
            raw = await self._connect(target_host, target_port)
        except OpenFailure as failure:
            return failure.code
        peer = raw.getpeername()
        self.remote_ip = str(peer[0])
        self.local_port = int(raw.getsockname()[1])
        # Without SNI, name the peer by its IP literal: OpenSSL sends no SNI
        # for an IP address (the name check is done after the handshake).
        server_name = self.host if self.settings.sni else self.remote_ip
        negotiate = self.settings.negotiatetime * cfg.time_scale
        try:
            async with asyncio.timeout(negotiate):
                reader, writer = await asyncio.open_connection(
                    sock=raw,
                    ssl=ctx,
                    server_hostname=server_name,
                    ssl_handshake_timeout=negotiate + 5,
                    limit=_STREAM_LIMIT,
                )
        except TimeoutError:
            raw.close()
            return ERR_TIMEOUT
        except (ssl.SSLError, ssl.CertificateError, OSError, EOFError):
            raw.close()
            return cfg.cert_failure_code
        except BaseException:
            raw.close()
            raise
        self._reader, self._writer = reader, writer
        sslobj = writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
        if not check_peer(der, self.settings, self.host, self._clock()):
            return cfg.cert_failure_code
        return 0

    async def _connect(self, host: str, port: int) -> socket.socket:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise OpenFailure(ERR_DNS) from None
        family, kind, proto, _name, address = infos[0]
        raw = socket.socket(family, kind, proto)
        raw.setblocking(False)
        try:
            async with asyncio.timeout(self._cfg.connect_timeout):
                await loop.sock_connect(raw, address)
        except (OSError, TimeoutError):
            raw.close()
            raise OpenFailure(ERR_CONNECT) from None
        except BaseException:
            raw.close()
            raise
        return raw

    async def _read_loop(self) -> None:
        reader = self._reader
        assert reader is not None
        cfg = self._cfg
        try:
            while True:
                if self.mode == 0:
                    if len(self.recv_buffer) >= cfg.recv_buffer_size:
                        self._space.clear()
                        await self._space.wait()
                        continue
                    room = cfg.recv_buffer_size - len(self.recv_buffer)
                    data = await reader.read(min(room, _READ_CHUNK))
                else:
                    data = await reader.read(_READ_CHUNK)
                if not data:
                    break
                self.total_received += len(data)
                if self.mode == 0:
                    was_empty = not self.recv_buffer
                    self.recv_buffer += data
                    self._events.socket_data(self, was_empty)
                elif self.mode == 2 and self.transparent_ready:
                    self.total_read += len(data)
                    await self._events.socket_transparent(self, data)
                elif self.mode == 2:
                    self.recv_buffer += data  # until CONNECT is printed
                else:
                    async with self.push_lock:
                        await self._push_buffered_locked()
                        self.total_read += len(data)
                        await self._events.socket_push(self, data)
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        if self.mode == 1:
            async with self.push_lock:
                await self._push_buffered_locked()
        if self.state is SocketState.CONNECTED:
            self.state = SocketState.CLOSING
            self._events.socket_closed(self)

    async def _push_buffered_locked(self) -> None:
        if self.recv_buffer:
            data = bytes(self.recv_buffer)
            self.recv_buffer.clear()
            self.total_read += len(data)
            self._space.set()
            await self._events.socket_push(self, data)

    async def push_buffered(self) -> None:
        """Push what is buffered (after a switch to direct push mode)."""
        async with self.push_lock:
            await self._push_buffered_locked()

    def set_mode(self, mode: int) -> None:
        """Switch the access mode (0 buffer, 1 direct push, 2 transparent)."""
        self.mode = mode
        self.urc_armed = True
        if mode != 2:
            self.transparent_ready = False
        self._space.set()

    def consume(self, n: int) -> bytes:
        """Take up to ``n`` bytes from the receive buffer."""
        data = bytes(self.recv_buffer[:n])
        del self.recv_buffer[:n]
        self.total_read += len(data)
        if not self.recv_buffer:
            self.urc_armed = True
        self._space.set()
        return data

    async def drain(self) -> None:
        """Wait until the TLS write backlog is below the transport's limit."""
        if self._writer is not None:
            with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
                await self._writer.drain()

    def backlog(self) -> int:
        """Bytes accepted by SEND OK that the peer has not taken yet.

        The TLS write backlog plus, on Linux, the TCP send queue (``SIOCOUTQ``):
        loopback acknowledges at once, so what stays queued is what the peer's
        receive window refused, as it would stay in the module's send buffer.
        Without that queue a peer that stops reading would first fill the
        host's socket buffer (megabytes) before ``SEND FAIL``.
        """
        if self._writer is None:
            return 0
        transport = self._writer.transport
        return transport.get_write_buffer_size() + _kernel_send_queue(transport.get_extra_info("socket"))

    def send(self, data: bytes) -> None:
        """Queue ``data`` on the TLS connection."""
        assert self._writer is not None
        self._writer.write(data)
        self.total_sent += len(data)

    def abort_transport(self) -> None:
        """Drop the TCP connection at once."""
        if self._writer is not None:
            self._writer.transport.abort()

    def drop(self) -> None:
        """Cancel the socket's task and drop its connection (restart, PDP loss)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.abort_transport()

    async def close(self, grace: float) -> None:
        """Close gracefully (TLS close_notify), bounded by ``grace`` seconds."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        writer = self._writer
        self.state = SocketState.INITIAL
        if writer is None:
            return
        if grace <= 0 or writer.transport.is_closing():
            writer.transport.abort()
        else:
            writer.close()
            try:
                async with asyncio.timeout(grace):
                    await writer.wait_closed()
            except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
                writer.transport.abort()
        self._writer = None

    async def wait_finished(self) -> None:
        """Wait for the background task to end (after :meth:`drop`)."""
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
