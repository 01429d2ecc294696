"""The exception hierarchy of quectel-aio.

Theory of operation
-------------------
Every exception the package raises derives from :class:`QuectelError`. Each
class answers two questions for the caller: whose fault was it, and what can be
done about it.

* :class:`LocalProtocolError`: the caller asked for something illegal (bad
  argument, a string that could inject AT syntax, a command while another is in
  flight). Nothing was written to the modem.
* :class:`RemoteProtocolError`: the bytes from the modem broke the wire grammar.
* :class:`CommandError`: the modem answered a well-formed command with a
  failure (``ERROR``, ``+CME ERROR``, ``SEND FAIL``...). ``code`` carries the
  numeric code where one is known, ``text`` its description.
* :class:`CommandTimeout`: no final result within the command's maximum
  response time. Also a :class:`TimeoutError`.
* :class:`ModemUnavailable`: the port cannot be opened, failed or closed, or
  the module does not answer. Also a :class:`ConnectionError`. (A module
  restart breaks the sockets with :class:`SocketBroken`; the modem itself
  stays usable.)
* :class:`SocketBroken`: one SSL socket became unusable from an outside cause.
  Also a :class:`ConnectionResetError`.

This module imports nothing from the package.
"""

from __future__ import annotations

__all__ = [
    "CommandError",
    "CommandTimeout",
    "LocalProtocolError",
    "ModemUnavailable",
    "PortBusy",
    "ProtocolError",
    "QuectelError",
    "RemoteProtocolError",
    "SecurityConfigError",
    "SecurityWarning",
    "SocketBroken",
    "SocketOpenError",
]


class QuectelError(Exception):
    """Base class of every exception raised by quectel-aio."""


class ProtocolError(QuectelError):
    """A violation of the AT dialect; never raised directly."""


class LocalProtocolError(ProtocolError, ValueError):
    """The caller asked for something the protocol forbids.

    Raised before any byte is written to the modem. Also a :class:`ValueError`
    so that ordinary argument checks catch it.
    """


class RemoteProtocolError(ProtocolError):
    """The modem sent bytes that violate the wire grammar.

    Attributes:
        data: a short, escaped excerpt of the offending bytes (never payload).
    """

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = data


class CommandError(QuectelError):
    """The modem answered a command with a failure result.

    Attributes:
        command: the AT command name, for example ``"AT+QSSLOPEN"``.
        result: the final result text (``"ERROR"``, ``"+CME ERROR"``,
            ``"SEND FAIL"``, ``"NO CARRIER"``).
        code: the numeric error code if known (CME code or the
            ``AT+QIGETERROR`` code), else ``None``.
        text: a human-readable description of the code, if known.

    The message is ``"<command> failed: <result> (code <code>: <text>)"``,
    followed by ``context`` if given (what the command was doing, what to check).
    """

    def __init__(
        self,
        command: str,
        result: str,
        code: int | None = None,
        text: str = "",
        *,
        context: str = "",
    ) -> None:
        self.command = command
        self.result = result
        self.code = code
        self.text = text
        detail = result
        if code is not None:
            detail += f" (code {code}"
            detail += f": {text})" if text else ")"
        elif text:
            detail += f" ({text})"
        super().__init__(f"{command} failed: {detail}{context}")


#: What to check after an ``AT+QSSLOPEN`` error code, where the code alone leaves it open.
_OPEN_HINTS = {
    579: (
        "the module does not say which check failed: is the server's chain signed by the CA in "
        "cafile, does its certificate name this host, does its key suit the cipher suite (an ECDSA "
        "key needs an ECDSA suite) and does it speak TLS 1.2?"
    ),
    561: "is the PDP context active? Activate it first with modem.activate_pdp(1, apn=...)",
    565: "the module could not resolve the host name",
    566: "the server could not be reached, or (on some firmware) the TLS handshake failed",
    569: "the handshake did not finish within negotiate_time",
}


class SocketOpenError(CommandError):
    """``+QSSLOPEN: <clientID>,<err>`` reported a non-zero error.

    Attributes:
        socket_id: the client ID that failed to open.
        target: ``"host:port"`` of the server, if known.
    """

    def __init__(self, socket_id: int, code: int, text: str = "", *, target: str = "") -> None:
        self.socket_id = socket_id
        self.target = target
        hint = _OPEN_HINTS.get(code)
        context = (f" opening {target}" if target else "") + (f"; {hint}" if hint else "")
        super().__init__("AT+QSSLOPEN", "+QSSLOPEN", code, text, context=context)


class CommandTimeout(QuectelError, TimeoutError):
    """No final result arrived within the command's maximum response time.

    Attributes:
        command: the AT command name.
        timeout: the time waited, in seconds.
    """

    def __init__(self, command: str, timeout: float) -> None:
        self.command = command
        self.timeout = timeout
        super().__init__(f"{command}: no final result within {timeout:g} s")


class ModemUnavailable(QuectelError, ConnectionError):
    """The port cannot be opened, failed or closed, or the module does not answer."""


class PortBusy(QuectelError):
    """The port is transparent for one socket and the caller asked not to wait.

    While a socket is in transparent access mode the module forwards every
    byte to it, so no AT command can be sent until it leaves that mode.

    Attributes:
        client_id: the client ID of the socket that holds the port.
    """

    def __init__(self, client_id: int | None) -> None:
        self.client_id = client_id
        super().__init__(
            f"the port is transparent for client {client_id}: commands can go once that socket "
            "closes or leaves with writer.transport.switch_mode('buffer'); wait=True waits for that"
        )


class SocketBroken(QuectelError, ConnectionResetError):
    """An SSL socket is unusable because of an outside cause.

    Examples: the module restarted, the PDP context was deactivated, a send's
    outcome is unknown (so retrying could duplicate bytes).
    """


class SecurityConfigError(QuectelError, ValueError):
    """A TLS configuration is unsafe or cannot be honoured by the module."""


class SecurityWarning(UserWarning):
    """Emitted once when the caller explicitly weakens TLS security."""
