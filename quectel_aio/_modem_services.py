"""Raw commands, PDP contexts, module files, clock and SSL queries of a :class:`~quectel_aio.Modem`."""

from __future__ import annotations

import contextlib
import datetime as _dt
from dataclasses import dataclass

from . import _commands as cmd
from ._channel import AtChannel
from ._client_ids import ClientIds
from ._errors import CommandError
from ._ports import Port
from ._raw_command import check_resource_uses, resource_uses
from ._replies import SslStateInfo
from ._ssl_contexts import SslContextTable, set_module_clock
from ._ufs import FileSpace, ModuleFile, delete_file, file_space, list_files, upload_file

__all__ = ["ModemServices", "PdpContext"]


@dataclass(frozen=True, slots=True)
class PdpContext:
    """An activated PDP context, from ``AT+QIACT?``.

    Attributes:
        context_id: the PDP context (1-7).
        state: 1 activated, 0 deactivated.
        context_type: 1 IPv4, 2 IPv6, 3 IPv4v6.
        addresses: the addresses the network assigned.
    """

    context_id: int
    state: int
    context_type: int
    addresses: tuple[str, ...]


class ModemServices:
    """The command-level services of the modem (everything but sockets and lifecycle)."""

    _channel: AtChannel
    _port: Port
    _ids: ClientIds
    _contexts: SslContextTable
    _socket_pdp: dict[int, int]
    _pdp_lost: set[int]

    # -- raw commands ----------------------------------------------------------------------

    async def command(self, line: str, *, timeout: float = 5.0, wait: bool = True) -> list[str]:
        """Send one raw AT command line and return its information lines.

        A line is refused, before any byte is sent, when one of its commands
        would start a data phase or transparent mode, or act on what this
        modem's sockets hold: ``AT+QSSLRECV`` (with a length), ``AT+QSSLCLOSE``
        or ``AT+QISWTMD`` on a client ID a socket of this modem holds (open,
        opening or closing), any ``AT+QSSLOPEN`` (the modem closes opens it did
        not start), an ``AT+QSSLCFG`` write on an SSL context such a socket
        uses, ``AT+QIDEACT`` / ``AT+QIDEACTEX`` / ``AT+CGACT=0`` on a PDP
        context such a socket uses, or ``AT+CFUN`` other than 1 and
        ``AT+CGATT=0`` while any socket is open; so is ``AT+QISDE`` set to anything but the
        ``payload_echo`` the modem was opened with, ``AT&D`` other than
        ``AT&D1`` with ``dtr_escape``, ``AT+IFC`` other than ``2,2`` on a
        port opened with ``rtscts=True``, and ``AT&F`` or ``ATZ`` (which reset
        both) with either option. Queries (``AT+QSSLSTATE``,
        ``AT+QSSLRECV=<id>,0``, ``AT+QSSLCFG="<item>",<ctx>``) are allowed,
        and so are reads, closes and switches of client IDs this modem does not
        hold. An ``AT+QSSLCFG`` write on a context no socket uses is sent, and
        the modem writes that context afresh before its next socket uses it;
        after an ``AT+CCLK`` write the next open that checks certificate dates
        sets the clock from the host again (unless ``sync_clock=False``).
        The data block of an ``AT+QSSLRECV`` answer is read by its length and
        dropped: only the ``+QSSLRECV: <n>`` line is returned.

        Args:
            line: the command line, e.g. ``"AT+CSQ"`` or ``"AT+CSQ;+CREG?"``
                (printable ASCII, no CR/LF). Commands that would start a data
                phase, send raw bytes back, enter transparent mode or change
                how results are framed are refused too: use the socket and
                file API for those.
            timeout: seconds to wait for the final result.
            wait: while a socket holds the port in transparent mode, wait for
                it (default) or raise :class:`PortBusy` at once.

        Raises:
            LocalProtocolError: the line is not printable AT commands, or is
                refused as above (the message names the API to use); nothing
                is sent.
            CommandError: the modem answered ``ERROR`` / ``+CME ERROR``.
            CommandTimeout: no final result in time.
            PortBusy: ``wait`` is false and the port is transparent.
        """
        command = cmd.Raw(line, timeout)
        uses = resource_uses(command.line)
        contexts = [use.ident for use in uses if use.kind == "ssl_context"]
        clock = any(use.kind == "clock" for use in uses)
        # An open takes its SSL context under the table lock: none can start
        # between the check and the write of a raw AT+QSSLCFG or AT+CCLK.
        async with self._contexts.lock if contexts or clock else contextlib.nullcontext():
            check_resource_uses(
                uses,
                client_ids=self._ids.reserved,
                pdp_contexts=set(self._socket_pdp.values()),
                ssl_context_in_use=self._contexts.in_use,
                payload_echo=self._channel.payload_echo,
                dtr_escape=self._channel.dtr_escape,
                hardware_flow_control=self._port.hardware_flow_control,
            )
            for ctx in contexts:
                self._contexts.forget(ctx)
            if clock:
                self._contexts.clock_changed()
            result = await self._channel.execute(command, timeout=timeout, wait=wait)
        return list(result.lines)

    # -- PDP -----------------------------------------------------------------------------------

    async def activate_pdp(
        self,
        context_id: int = 1,
        *,
        apn: str = "",
        username: str = "",
        password: str = "",
        authentication: int = 0,
        context_type: int = 1,
    ) -> PdpContext:
        """Configure (``AT+QICSGP``) and activate (``AT+QIACT``) a PDP context.

        An already active context is left as it is (its APN is not changed).
        One the network deactivated (``+QIURC: "pdpdeact"``) is deactivated
        with ``AT+QIDEACT`` first, as the module requires before it activates
        it again.

        Args:
            context_id: the PDP context (1-7).
            apn: the access point name your operator gives ("" lets the
                network choose).
            username: APN user name, if the operator needs one.
            password: APN password; never logged.
            authentication: 0 none, 1 PAP, 2 CHAP.
            context_type: 1 IPv4, 2 IPv6, 3 IPv4v6.

        Returns:
            The active context with its address(es).

        Raises:
            LocalProtocolError: invalid APN, credentials or IDs (nothing is sent).
            CommandError: the module refused (codes from AT+QIGETERROR).
        """
        configure = cmd.ConfigurePdp(context_id, apn, username, password, authentication, context_type)
        for context in await self.pdp_contexts():
            if context.context_id == context_id:
                self._pdp_lost.discard(context_id)
                return context
        if context_id in self._pdp_lost:
            # TCP/IP note: after "pdpdeact" the host must deactivate the context
            # (AT+QIDEACT) before the module activates it again.
            with contextlib.suppress(CommandError):
                await self._channel.execute(cmd.DeactivatePdp(context_id))
            self._pdp_lost.discard(context_id)
        await self._channel.execute(configure)
        await self._channel.execute(cmd.ActivatePdp(context_id))
        for context in await self.pdp_contexts():
            if context.context_id == context_id:
                return context
        raise CommandError("AT+QIACT", "OK", None, f"context {context_id} is not active after AT+QIACT")

    async def deactivate_pdp(self, context_id: int = 1) -> None:
        """Deactivate a PDP context (``AT+QIDEACT``); its sockets close.

        Args:
            context_id: the PDP context (1-7).

        Raises:
            CommandError: the module refused.
        """
        await self._channel.execute(cmd.DeactivatePdp(context_id))
        self._pdp_lost.discard(context_id)

    async def pdp_contexts(self) -> list[PdpContext]:
        """The activated PDP contexts (``AT+QIACT?``)."""
        result = await self._channel.execute(cmd.QueryPdp())
        contexts = []
        for line in result.lines:
            info = cmd.parse_pdp_line(line)
            contexts.append(PdpContext(info.context_id, info.state, info.context_type, tuple(info.addresses)))
        return contexts

    # -- files -------------------------------------------------------------------------------------

    async def upload_file(self, name: str, data: bytes, *, overwrite: bool = False) -> ModuleFile:
        """Upload ``data`` to the module's UFS, verifying size and XOR checksum.

        Args:
            name: the module file name, e.g. ``"UFS:ca.pem"``.
            data: the file's content.
            overwrite: delete a file of that name first; otherwise the module
                refuses to replace it.

        Returns:
            The file as the module lists it.

        Raises:
            LocalProtocolError: an invalid name or empty data (nothing is sent).
            CommandError: refused, or corrupted in transit (the file is deleted).
        """
        return await upload_file(self._channel, name, data, overwrite=overwrite)

    async def list_files(self, pattern: str = "*") -> list[ModuleFile]:
        """List the module's UFS files (``AT+QFLST``).

        Args:
            pattern: ``"*"`` for every file, or one file name (to see
                whether it exists).

        Returns:
            Name and size of each file.
        """
        return await list_files(self._channel, pattern)

    async def delete_file(self, name: str) -> None:
        """Delete a UFS file (``AT+QFDEL``).

        Args:
            name: the module file name, e.g. ``"UFS:ca.pem"``.

        Raises:
            CommandError: no such file, or the module refused.
        """
        await delete_file(self._channel, name)

    async def file_space(self) -> FileSpace:
        """Free and total bytes of the module's UFS (``AT+QFLDS="UFS"``)."""
        return await file_space(self._channel)

    async def ssl_state(self, client_id: int | None = None) -> list[SslStateInfo]:
        """Socket states reported by ``AT+QSSLSTATE``.

        Args:
            client_id: one client ID (0-11), or ``None`` for every socket.

        Returns:
            One entry per socket the module lists (client ID, remote address
            and port, state, access mode, SSL context...).
        """
        result = await self._channel.execute(cmd.SslState(client_id))
        states = [cmd.parse_ssl_state_line(line) for line in result.lines]
        listed = {state.client_id for state in states}
        # An ID refused with 563 that the module no longer lists is free again.
        for ident in list(self._ids.foreign):
            if ident not in listed and client_id in (None, ident):
                self._ids.foreign.discard(ident)
        return states

    async def ssl_context_settings(self, ssl_context_id: int) -> dict[str, int | str]:
        """Read every ``AT+QSSLCFG`` item of one SSL context back from the module.

        Args:
            ssl_context_id: the SSL context (0-5); a socket's is
                ``transport.get_extra_info("quectel_ssl_ctx")``.

        Returns:
            Item name to value (``ciphersuite`` as an int, paths as strings).

        Raises:
            LocalProtocolError: ``ssl_context_id`` is not 0-5 (nothing is sent).
        """
        values: dict[str, int | str] = {}
        commands = [cmd.SslConfigure(item, ssl_context_id) for item in cmd.SSL_CONFIG_ITEMS]
        for command in commands:
            result = await self._channel.execute(command)
            for line in result.lines:
                item, _, value = cmd.parse_cfg_line(line)
                values[item] = value
        return values

    async def set_clock(self, when: _dt.datetime | None = None) -> None:
        """Set the module clock (``AT+CCLK``) and read it back.

        Args:
            when: the time to set (timezone-aware); ``None`` takes the host's
                UTC clock.

        Raises:
            CommandError: the module refused the time or kept its own clock.
        """
        await set_module_clock(self._channel, when)
