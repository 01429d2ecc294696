"""UFS: QFUPL (checksum, timeouts, ack mode), QFLST, QFDEL, QFLDS, QFDWL."""

from __future__ import annotations

from pathlib import Path

from quectel_aio.testing import EmulatorConfig

from .helpers import echo_off, memory_host, upload, xor16

ISRG_PEM = (Path(__file__).parent / "data" / "isrg_root_x1.pem").read_bytes()


def test_independent_checksum_matches_real_device_capture() -> None:
    # A sibling module answered +QFUPL: 1939,4f64 for this certificate.
    assert len(ISRG_PEM) == 1939
    assert xor16(ISRG_PEM) == 0x4F64
    assert xor16(b"\x12") == 0x1200
    assert xor16(b"\x12\x34\x56") == 0x1234 ^ 0x5600


async def test_qfupl_known_checksum() -> None:
    async with memory_host() as host:
        host.send(b'AT+QFUPL="isrgx1.pem",1939,60\r')
        await host.expect(b'AT+QFUPL="isrgx1.pem",1939,60\r\r\nCONNECT\r\n')
        host.send(ISRG_PEM)
        await host.expect(b"\r\n+QFUPL: 1939,4f64\r\n\r\nOK\r\n")
        assert host.emu.files["isrgx1.pem"] == ISRG_PEM


async def test_payload_that_looks_like_commands_is_stored() -> None:
    data = b'AT+QFDEL="*"\r\nAT\r\n+++\x1a\x1b'
    async with memory_host() as host:
        await echo_off(host)
        await upload(host, "keep.bin", b"x")
        await upload(host, "UFS:evil.bin", data)
        assert host.emu.files == {"keep.bin": b"x", "evil.bin": data}
        assert [c.name for c in host.emu.command_log].count("+QFDEL") == 0


async def test_existing_name_and_prefix_equivalence() -> None:
    async with memory_host() as host:
        await echo_off(host)
        await upload(host, "ca.pem", b"abc")
        await host.command(b'AT+QFUPL="UFS:ca.pem",3', b"\r\n+CME ERROR: 407\r\n")
        await host.command(b"AT+CMEE=2", b"\r\nOK\r\n")
        await host.command(b'AT+QFUPL="ca.pem",3', b"\r\n+CME ERROR: file already exist\r\n")


async def test_timeout_keeps_partial_upload() -> None:
    config = EmulatorConfig(emit_rdy_on_start=False, time_scale=0.05)
    async with memory_host(config) as host:
        await echo_off(host)
        host.send(b'AT+QFUPL="part.bin",100,2\r')
        await host.expect(b"\r\nCONNECT\r\n")
        host.send(b"0123456789")
        await host.expect(f"\r\n+QFUPL: 10,{xor16(b'0123456789'):x}\r\n\r\n+CME ERROR: 421\r\n".encode())
        assert host.emu.files["part.bin"] == b"0123456789"


async def test_ack_mode() -> None:
    data = bytes(i % 251 for i in range(2500))
    async with memory_host() as host:
        await echo_off(host)
        host.send(b'AT+QFUPL="big.bin",2500,5,1\r')
        await host.expect(b"\r\nCONNECT\r\n")
        host.send(data[:1024])
        await host.expect(b"A")
        host.send(data[1024:2048])
        await host.expect(b"A")
        host.send(data[2048:])
        await host.expect(f"\r\n+QFUPL: 2500,{xor16(data):x}\r\n\r\nOK\r\n".encode())


async def test_list_delete_and_space() -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b'AT+QFLDS="UFS"', b"\r\n+QFLDS: 286720,286720\r\n\r\nOK\r\n")
        await host.command(b"AT+QFLST", b"\r\nOK\r\n")
        await upload(host, "a.pem", b"1" * 10)
        await upload(host, "b.key", b"2" * 5000)
        await host.command(
            b"AT+QFLST", b'\r\n+QFLST: "UFS:a.pem",10\r\n+QFLST: "UFS:b.key",5000\r\n\r\nOK\r\n'
        )
        await host.command(b'AT+QFLST="*.pem"', b'\r\n+QFLST: "UFS:a.pem",10\r\n\r\nOK\r\n')
        await host.command(b'AT+QFLST="UFS:b.key"', b'\r\n+QFLST: "UFS:b.key",5000\r\n\r\nOK\r\n')
        # 1 block + 2 blocks of 4 KiB
        await host.command(b'AT+QFLDS="UFS"', b"\r\n+QFLDS: 274432,286720\r\n\r\nOK\r\n")
        await host.command(b"AT+QFLDS", b"\r\n+QFLDS: 5010,2\r\n\r\nOK\r\n")
        await host.command(b'AT+QFDEL="UFS:a.pem"', b"\r\nOK\r\n")
        await host.command(b'AT+QFDEL="a.pem"', b"\r\n+CME ERROR: 405\r\n")
        await host.command(b'AT+QFDEL="*"', b"\r\nOK\r\n")
        assert host.emu.files == {}


async def test_upload_larger_than_free_space() -> None:
    config = EmulatorConfig(emit_rdy_on_start=False, ufs_capacity=8192)
    async with memory_host(config) as host:
        await echo_off(host)
        await host.command(b'AT+QFUPL="huge.bin",8193', b"\r\n+CME ERROR: 403\r\n")
        await host.command(b'AT+QFUPL="bad/name.bin",10', b"\r\n+CME ERROR: 406\r\n")


async def test_download() -> None:
    async with memory_host() as host:
        await echo_off(host)
        data = b"\r\nOK\r\n"
        await upload(host, "x.bin", data)
        trailer = f"\r\n+QFDWL: 6,{xor16(data):x}\r\n\r\nOK\r\n".encode()
        await host.command(b'AT+QFDWL="UFS:x.bin"', b"\r\nCONNECT\r\n" + data + trailer)


async def test_files_survive_restart() -> None:
    async with memory_host() as host:
        await echo_off(host)
        await upload(host, "ca.pem", b"abc")
        host.emu.restart()
        await host.expect(b"\r\nRDY\r\n")
        assert host.emu.files == {"ca.pem": b"abc"}
