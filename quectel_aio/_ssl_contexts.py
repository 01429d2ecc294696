"""The six module SSL contexts: which settings each holds, in which boot epoch.

Theory of operation
-------------------
An SSL context (0-5) is configured with ``AT+QSSLCFG`` and shared by every
socket whose :class:`SSLConfig` produces the same settings. The table
remembers, per context, the settings it holds, the boot epoch in which they
were written and read back, and the client IDs using it.

Before a socket opens, :meth:`SslContextTable.prepare` picks a context (one
with the same settings in the current epoch, else a free one, else an unused
one), uploads missing credentials (content-addressed names; every upload's size and
XOR checksum verified; a file found under such a name is uploaded again once
per :class:`SslContextTable`, since anyone on the AT port could have put other
bytes there), sets the
module clock when certificate dates are checked, writes every item and **reads
every item back**. A module restart bumps the epoch: nothing configured before
it counts, because the module forgets QSSLCFG and falls back to verifying
nothing. A context reused within an epoch is read back again before each open:
a restart whose ``RDY`` went to another port (``urcport``) or was lost leaves
the epoch unchanged, and the read-back is what catches it (the context is then
written again, and the clock set again). A raw ``AT+CCLK`` write makes the
next open that checks dates set the clock again, on a reused context too.

Client keys can be ephemeral (``SSLConfig(delete_key_after_handshake=True)``):
every open that uses such a key holds it from :meth:`SslContextTable.prepare`
until :meth:`SslContextTable.handshake_over`; the last holder deletes the file
(``AT+QFDEL``), and the next open uploads it again before its handshake.
Deletion and re-upload both run under the table lock, so one open's deletion
cannot pull the key from under another open's handshake.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from . import _commands as cmd
from ._channel import AtChannel
from ._errors import CommandError, LocalProtocolError, QuectelError, SocketBroken
from ._grammar import MAX_SSL_CONTEXT_ID
from ._ufs import delete_file, list_files, upload_file
from .ssl_config import SSLConfig

__all__ = ["SslContextTable", "set_module_clock"]

_SettingsKey = tuple[tuple[str, int | str], ...]


@dataclass(slots=True)
class _Slot:
    key: _SettingsKey
    epoch: int
    users: set[int]


#: How far the clock read back after ``AT+CCLK`` may be from the time written.
CLOCK_TOLERANCE = _dt.timedelta(seconds=120)


def _clock_reading(text: str) -> _dt.datetime | None:
    """``yy/MM/dd,hh:mm:ss±zz`` (zz in quarter hours; a space after the comma tolerated) as UTC."""
    match = _CLOCK_READ_RE.match(text)
    if match is None:
        return None
    yy, mo, dd, hh, mi, ss, sign, zz = match.groups()
    try:
        local = _dt.datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), tzinfo=_dt.UTC)
    except ValueError:
        return None
    offset = _dt.timedelta(minutes=15 * int(zz))
    return local - offset if sign == "+" else local + offset


_CLOCK_READ_RE = re.compile(r"(\d\d)/(\d\d)/(\d\d), ?(\d\d):(\d\d):(\d\d)([+-])(\d\d)\Z")


async def set_module_clock(channel: AtChannel, when: _dt.datetime | None = None) -> None:
    """Set the module clock (``AT+CCLK``) to ``when`` (default: host UTC now) and read it back.

    Raises:
        CommandError: the module refused the time, or reads back a time more
            than :data:`CLOCK_TOLERANCE` away from it (it answered ``OK`` and
            kept its own clock), so certificate dates cannot be trusted.
    """
    moment = (when or _dt.datetime.now(_dt.UTC)).astimezone(_dt.UTC)
    await channel.execute(cmd.SetClock(moment.strftime("%y/%m/%d,%H:%M:%S+00")))
    result = await channel.execute(cmd.QueryClock())
    reading = None
    for line in result.lines:
        reading = _clock_reading(cmd.parse_clock_line(line))
    if reading is None or abs(reading - moment) > CLOCK_TOLERANCE:
        raise CommandError(
            "AT+CCLK",
            "OK",
            None,
            f"the module clock reads {reading} after it was set to {moment:%Y-%m-%d %H:%M:%S} UTC; "
            "certificate dates would be checked against the wrong time",
        )


class SslContextTable:
    """Allocation and configuration of the module's SSL contexts."""

    def __init__(
        self,
        channel: AtChannel,
        current_epoch: Callable[[], int],
        *,
        sync_clock: bool,
        on_reset: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._channel = channel
        self._on_reset = on_reset
        self._current_epoch = current_epoch
        self._sync_clock = sync_clock
        self._slots: dict[int, _Slot] = {}
        self._clock_epoch = -1
        #: v1.2 items this firmware refused to set, at a value that needs no setting.
        self._unknown_items: set[str] = set()
        #: client ID -> the ephemeral client key its open holds on the module.
        self._key_holders: dict[int, str] = {}
        #: Ephemeral keys: deleted after each handshake, uploaded again before the next.
        self._ephemeral_keys: set[str] = set()
        #: Content-addressed files this table uploaded (size and checksum verified).
        self._uploaded: set[str] = set()
        #: Serialises context setup with re-initialisation after a restart.
        self.lock = asyncio.Lock()

    def forget_all(self) -> None:
        """The module restarted: no context holds anything we configured."""
        self._slots.clear()

    def in_use(self, ctx: int | None) -> bool:
        """Whether a socket uses ``ctx`` (``None``: any context)."""
        return any(slot.users for index, slot in self._slots.items() if ctx in (None, index))

    def forget(self, ctx: int | None) -> None:
        """Something else writes ``ctx`` (``None``: any context): configure it afresh before its next use.

        Its settings are then written and read back, not read back and taken
        for a restart the host did not see.
        """
        for index in [index for index in self._slots if ctx in (None, index)]:
            del self._slots[index]

    def clock_changed(self) -> None:
        """Something else wrote the module clock: set it again before the next open that checks dates."""
        self._clock_epoch = -1

    def release(self, client_id: int) -> None:
        """``client_id`` no longer uses its context."""
        for slot in self._slots.values():
            slot.users.discard(client_id)

    async def prepare(self, ssl: SSLConfig, requested: int | None, host_is_name: bool, client_id: int) -> int:
        """Return a context holding ``ssl``'s settings (verified), reserved for ``client_id``.

        Raises:
            LocalProtocolError: bad ``requested`` ID, or every context is in use
                with other settings.
            SocketBroken: a read-back differed or the module restarted meanwhile.
        """
        key = ssl.cache_key(host_is_name=host_is_name)
        key_path = ssl.key_path_on_module
        if ssl.key_bytes is not None and key_path is not None:
            if ssl.delete_key_after_handshake:
                self._ephemeral_keys.add(key_path)
            if key_path in self._ephemeral_keys:
                self._key_holders[client_id] = key_path
        async with self.lock:
            epoch = self._current_epoch()
            if requested is not None:
                if (
                    isinstance(requested, bool)
                    or not isinstance(requested, int)
                    or not 0 <= requested <= MAX_SSL_CONTEXT_ID
                ):
                    raise LocalProtocolError(f"ssl_context_id must be 0-{MAX_SSL_CONTEXT_ID}")
                slot = self._slots.get(requested)
                if slot is not None and slot.key != key and slot.users:
                    raise LocalProtocolError(f"SSL context {requested} is in use with other settings")
                ctx = requested
            else:
                ctx = self._pick(key, epoch)
            slot = self._slots.get(ctx)
            reuse = slot is not None and slot.key == key and slot.epoch == epoch
            if reuse:
                if client_id in self._key_holders:
                    await self._ensure_credentials(ssl)  # an ephemeral key was deleted after use
                mismatch = await self._read_back(
                    ctx, ssl.settings(host_is_name=host_is_name), self._unknown_items
                )
                if mismatch is not None and epoch != self._current_epoch():
                    # The restart showed itself meanwhile (its RDY, or the echo of a
                    # read-back query): the restart handling re-initialises the port.
                    raise SocketBroken("the module restarted while its SSL context was being checked")
                if mismatch is not None:
                    # A restart whose RDY went to another port (urcport) or was
                    # lost: the module has forgotten the context, and its clock.
                    self._channel.log.warning("ssl_context_reset", ssl_ctx=ctx, mismatch=mismatch)
                    self._clock_epoch = -1
                    reuse = False
                    if self._on_reset is not None:
                        # Port settings again; a confirmed restart starts a new epoch.
                        await self._on_reset()
                        epoch = self._current_epoch()
                        slot = self._slots.get(ctx)
            if reuse:
                await self._set_clock_if_due(ssl, epoch)  # a raw AT+CCLK may have moved it
            if not reuse:
                await self._configure(ctx, ssl, host_is_name, epoch)
                slot = _Slot(key, epoch, set() if slot is None else slot.users)
                self._slots[ctx] = slot
            assert slot is not None
            if epoch != self._current_epoch():
                raise SocketBroken("the module restarted while its SSL context was being checked")
            slot.users.add(client_id)
            return ctx

    async def handshake_over(self, client_id: int) -> None:
        """The open of ``client_id`` succeeded or failed: drop its hold on an ephemeral key.

        The last holder deletes the key file from the module. A failed deletion
        is logged as a warning (the socket itself is fine) and retried after
        the next handshake that uses the key.
        """
        key_path = self._key_holders.pop(client_id, None)
        if key_path is None or key_path in self._key_holders.values():
            return
        async with self.lock:
            if key_path in self._key_holders.values():
                return  # another open took the key meanwhile; it deletes it
            self._uploaded.discard(key_path.split(":", 1)[-1])
            try:
                await delete_file(self._channel, key_path)
            except QuectelError as exc:
                self._channel.log.warning("client_key_not_deleted", file=key_path, error=type(exc).__name__)
            else:
                self._channel.log.info("client_key_deleted", file=key_path)

    def _pick(self, key: _SettingsKey, epoch: int) -> int:
        for ctx, slot in self._slots.items():
            if slot.key == key and slot.epoch == epoch:
                return ctx
        for ctx in range(MAX_SSL_CONTEXT_ID + 1):
            if ctx not in self._slots:
                return ctx
        for ctx, slot in self._slots.items():
            if not slot.users:
                return ctx
        raise LocalProtocolError("all 6 SSL contexts are in use with other settings")

    async def _configure(self, ctx: int, ssl: SSLConfig, host_is_name: bool, epoch: int) -> None:
        channel = self._channel
        await self._ensure_credentials(ssl)
        await self._set_clock_if_due(ssl, epoch)
        settings = ssl.settings(host_is_name=host_is_name)
        refused: set[str] = set()
        for item, value in settings.items():
            try:
                await channel.execute(cmd.SslConfigure(item, ctx, value))
            except CommandError:
                if not _inert_when_unknown(item, value):
                    raise
                refused.add(item)
        self._unknown_items |= refused
        # Read every item back: a restart in between would silently reset them.
        mismatch = await self._read_back(ctx, settings, refused)
        if mismatch is not None:
            raise SocketBroken(f"SSL context {ctx}: {mismatch} (did the module restart?)")
        if epoch != self._current_epoch():
            raise SocketBroken("the module restarted while its SSL context was being configured")
        channel.log.info("ssl_context_configured", ssl_ctx=ctx, seclevel=int(ssl.security_level), epoch=epoch)

    async def _set_clock_if_due(self, ssl: SSLConfig, epoch: int) -> None:
        """Set the module clock from the host once per epoch (and after a raw write) if ``ssl`` checks dates."""
        if ssl.check_time and ssl.security_level >= 1 and self._sync_clock and self._clock_epoch != epoch:
            await set_module_clock(self._channel)
            self._clock_epoch = epoch

    async def _read_back(self, ctx: int, settings: dict[str, int | str], unknown: set[str]) -> str | None:
        """Query every item of ``ctx``; describe the first that differs from ``settings``.

        An item in ``unknown`` (its write was refused, and its value is what
        firmware without it does) may be refused on reading too.
        """
        for item, value in settings.items():
            try:
                result = await self._channel.execute(cmd.SslConfigure(item, ctx))
            except CommandError:
                if item not in unknown:
                    raise
                # Firmware older than the note's v1.2 lacks the item, and without
                # it the module does what this value asks.
                self._channel.log.info("ssl_setting_unknown_to_module", item=item, value=value)
                continue
            actual: object = None
            for line in result.lines:
                answered_item, answered_ctx, answered = cmd.parse_cfg_line(line)
                if answered_item.lower() == item and answered_ctx == ctx:
                    actual = answered  # a line about another item or context proves nothing
            if not _same_setting(item, value, actual):
                return f"{item} reads back as {actual!r}, expected {value!r}"
        return None

    async def _ensure_credentials(self, ssl: SSLConfig) -> None:
        uploads = [
            (ssl.ca_path_on_module, ssl.ca_bytes),
            (ssl.cert_path_on_module, ssl.cert_bytes),
            (ssl.key_path_on_module, ssl.key_bytes),
        ]
        wanted = [(name, data) for name, data in uploads if name is not None and data is not None]
        if not wanted:
            return
        present = {f.name.split(":", 1)[-1]: f.size for f in await list_files(self._channel)}
        for name, data in wanted:
            bare = name.split(":", 1)[-1]
            if bare in self._uploaded and present.get(bare) == len(data):
                continue  # uploaded and checksum-verified by this table
            # A file found under the name is replaced: the name and size of a
            # public CA are predictable, so anyone on the AT port could have
            # planted another CA there.
            await upload_file(self._channel, name, data, overwrite=bare in present)
            self._uploaded.add(bare)


def _inert_when_unknown(item: str, value: int | str) -> bool:
    """An item added in v1.2 of the note, set to what firmware without it does."""
    # "dtlsversion" only matters with "dtls" 1, which is never written.
    return item == "dtlsversion" or (item == "session_cache" and value == 0)


def _same_setting(item: str, wanted: int | str, actual: object) -> bool:
    if isinstance(wanted, str) and isinstance(actual, str):
        return wanted.split(":", 1)[-1] == actual.split(":", 1)[-1]
    if item == "ciphersuite" and isinstance(actual, str):
        try:
            return int(actual, 16) == wanted
        except ValueError:
            return False
    return actual == wanted
