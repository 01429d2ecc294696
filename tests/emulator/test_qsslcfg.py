"""AT+QSSLCFG: factory defaults, set/query, range errors (SSL Application Note §2.2.1)."""

from __future__ import annotations

import pytest

from .helpers import echo_off, memory_host

DEFAULTS = {
    "sslversion": "4",
    "dtls": "0",
    "ciphersuite": "0XFFFF",
    "seclevel": "0",
    "cacert": '""',
    "clientcert": '""',
    "clientkey": '""',
    "sni": "0",
    "ignorelocaltime": "1",
    "negotiatetime": "300",
    "ignoreinvalidcertsign": "0",
    "ignorecertitem": "0",
    "ignoremulticertchainverify": "0",
    "session_cache": "0",
    "dtlsversion": "0",
}

# item -> (valid values, invalid values)
RANGES = {
    "sslversion": ([0, 4], [5]),
    "dtls": ([1], [2]),
    "seclevel": ([0, 2], [3]),
    "sni": ([1], [2]),
    "ignorelocaltime": ([0], [2]),
    "negotiatetime": ([10, 300], [9, 301]),
    "ignoreinvalidcertsign": ([1], [2]),
    "ignorecertitem": ([4, 1048575], [1048576]),
    "ignoremulticertchainverify": ([1], [2]),
    "session_cache": ([1], [2]),
    "dtlsversion": ([1], [2]),
}


@pytest.mark.parametrize(("item", "value"), DEFAULTS.items())
async def test_factory_default(item: str, value: str) -> None:
    async with memory_host() as host:
        await echo_off(host)
        for ctx in (0, 5):
            await host.command(
                f'AT+QSSLCFG="{item}",{ctx}'.encode(),
                f'\r\n+QSSLCFG: "{item}",{ctx},{value}\r\n\r\nOK\r\n'.encode(),
            )


@pytest.mark.parametrize("item", RANGES)
async def test_ranges(item: str) -> None:
    valid, invalid = RANGES[item]
    async with memory_host() as host:
        await echo_off(host)
        for value in valid:
            await host.command(f'AT+QSSLCFG="{item}",2,{value}'.encode(), b"\r\nOK\r\n")
            await host.command(
                f'AT+QSSLCFG="{item}",2'.encode(),
                f'\r\n+QSSLCFG: "{item}",2,{value}\r\n\r\nOK\r\n'.encode(),
            )
        for value in invalid:
            await host.command(f'AT+QSSLCFG="{item}",2,{value}'.encode(), b"\r\nERROR\r\n")
        await host.command(f'AT+QSSLCFG="{item}",2,"1"'.encode(), b"\r\nERROR\r\n")
        await host.command(b"AT+QIGETERROR", b"\r\n+QIGETERROR: 552,Invalid parameter\r\n\r\nOK\r\n")


async def test_ciphersuite_forms() -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b'AT+QSSLCFG="ciphersuite",0,0xc02f', b"\r\nOK\r\n")
        await host.command(
            b'AT+QSSLCFG="ciphersuite",0', b'\r\n+QSSLCFG: "ciphersuite",0,0XC02F\r\n\r\nOK\r\n'
        )
        await host.command(b'AT+QSSLCFG="ciphersuite",0,0XFFFF', b"\r\nOK\r\n")
        for bad in (b"0X1234", b"49199", b'"0XC02F"', b"0X", b"C02F"):
            await host.command(b'AT+QSSLCFG="ciphersuite",0,' + bad, b"\r\nERROR\r\n")
        assert host.emu.ssl_contexts[0].ciphersuite == 0xFFFF


async def test_paths_and_context_isolation() -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b'AT+QSSLCFG="cacert",3,"UFS:cacert.pem"', b"\r\nOK\r\n")
        await host.command(
            b'AT+QSSLCFG="cacert",3', b'\r\n+QSSLCFG: "cacert",3,"UFS:cacert.pem"\r\n\r\nOK\r\n'
        )
        await host.command(b'AT+QSSLCFG="cacert",2', b'\r\n+QSSLCFG: "cacert",2,""\r\n\r\nOK\r\n')
        await host.command(b'AT+QSSLCFG="cacert",3,cacert.pem', b"\r\nERROR\r\n")
        assert host.emu.ssl_contexts[3].cacert == "UFS:cacert.pem"


@pytest.mark.parametrize(
    "line",
    [
        b'AT+QSSLCFG="seclevel",6,1',
        b'AT+QSSLCFG="seclevel",6',
        b'AT+QSSLCFG="nosuchitem",0,1',
        b"AT+QSSLCFG=seclevel,0,1",
        b'AT+QSSLCFG="seclevel"',
        b'AT+QSSLCFG="seclevel",0,1,1',
        b"AT+QSSLCFG?",
        b"AT+QSSLCFG",
    ],
)
async def test_malformed(line: bytes) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(line, b"\r\nERROR\r\n")


async def test_test_form_lists_every_item() -> None:
    async with memory_host() as host:
        await echo_off(host)
        host.send(b"AT+QSSLCFG=?\r")
        block = await host.read_until(b"\r\n\r\nOK\r\n")
        lines = block.strip().split(b"\r\n")[:-2]
        assert len(lines) == len(DEFAULTS)
        assert [line.split(b'"')[1].decode() for line in lines] == list(DEFAULTS)
        assert lines[0] == b'+QSSLCFG: "sslversion",(0-5),(0-4)'
        assert b"0XC030,0XFFFF)" in lines[2]


async def test_settings_are_lost_on_restart() -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b'AT+QSSLCFG="seclevel",1,2', b"\r\nOK\r\n")
        host.emu.restart()
        await host.expect(b"\r\nRDY\r\n")
        host.send(b'AT+QSSLCFG="seclevel",1\r')
        await host.expect(b'AT+QSSLCFG="seclevel",1\r\r\n+QSSLCFG: "seclevel",1,0\r\n\r\nOK\r\n')
