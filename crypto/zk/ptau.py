"""Reads the contributions of a powers-of-tau file (phase 1 of the Groth16 setup) and of a zkey (phase 2).

A .ptau file (snarkjs, iden3 binary container) is: magic "ptau", version (u32 LE), number of sections (u32 LE),
then sections of (type u32 LE, size u64 LE, body). Section 1 is the header (n8, the field prime q in n8 bytes,
power, ceremony power); section 7 holds the contributions (snarkjs src/powersoftau_utils.js readContributions):
u32 count, then per contribution tauG1, tauG2, alphaG1, betaG1, betaG2 (G1 = 2 n8 bytes, G2 = 4 n8 bytes), the
contributor's public key (6 G1 and 3 G2 points), a partial hash (216 bytes), the next challenge (64 bytes), the
type (u32: 0 a contribution with secret randomness, 1 a public beacon) and length-prefixed parameters (1: name,
2: beacon iterations exponent, 3: beacon hash).

A .zkey file (the same container, magic "zkey") keeps phase 2's contributions in section 10 (snarkjs
src/zkey_utils.js readMPCParams): the circuit hash (64 bytes), u32 count, then per contribution deltaAfter,
delta.g1_s, delta.g1_sx (G1), delta.g2_spx (G2), the transcript (64 bytes), the type (u32) and the same
parameters. Only the header (section 2) sizes are needed to walk it.

Phase 1 is safe when one of its contributors destroyed their randomness: a file with a single contributor (the
development files in ../shared/zk) lets that contributor forge every proof of every circuit set up from it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

PTAU_CONTRIBUTIONS_SECTION = 7
ZKEY_HEADER_SECTION = 1
ZKEY_GROTH16_HEADER_SECTION = 2
ZKEY_CONTRIBUTIONS_SECTION = 10
GROTH16_PROTOCOL_ID = 1
CONTRIBUTION, BEACON = 0, 1
# The public Hermez (Perpetual Powers of Tau) files: what to use instead of a single-contributor file.
HERMEZ_PTAU_URL = "https://storage.googleapis.com/zkevm/ptau/powersOfTau28_hez_final_{power}.ptau"


class FormatError(ValueError):
    """The file is not what it claims to be (wrong magic, truncated, or sections that do not add up)."""


@dataclass(frozen=True)
class Contribution:
    """One contribution of a ptau or zkey file: its position (1-based), its kind, the name the contributor gave
    and, for a beacon, the beacon's value and iterations. `raw` is its bytes as stored (what a later file must
    repeat unchanged)."""

    index: int
    type: int  # CONTRIBUTION (secret randomness) or BEACON (public)
    name: str
    beacon_hash: str  # hex, beacons only
    iterations_exp: int  # beacons only
    raw: bytes

    @property
    def is_beacon(self) -> bool:
        return self.type == BEACON


@dataclass(frozen=True)
class PtauInfo:
    power: int  # the file holds 2^power points: circuits up to 2^power constraints
    ceremony_power: int
    contributions: tuple[Contribution, ...]

    @property
    def secret_contributions(self) -> int:
        """Contributions with secret randomness (a beacon adds none): the number that must include one honest
        contributor."""
        return sum(1 for c in self.contributions if not c.is_beacon)


@dataclass(frozen=True)
class ZkeyInfo:
    circuit_hash: str  # hex: snarkjs' hash of the circuit the key was set up for
    contributions: tuple[Contribution, ...]


def _read_exact(handle: BinaryIO, size: int, what: str) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise FormatError(f"truncated file: {what}")
    return data


def _sections(handle: BinaryIO, magic: bytes) -> dict[int, list[tuple[int, int]]]:
    """Section type -> [(offset of its body, size)], after checking the magic."""
    head = handle.read(12)
    if len(head) != 12 or head[:4] != magic:
        raise FormatError(f"not a {magic.decode()} file")
    _version, count = struct.unpack("<II", head[4:])
    if count > 64:
        raise FormatError(f"implausible number of sections ({count})")
    handle.seek(0, os.SEEK_END)
    end = handle.tell()
    position = 12
    sections: dict[int, list[tuple[int, int]]] = {}
    for _ in range(count):
        handle.seek(position)
        section_type, size = struct.unpack("<IQ", _read_exact(handle, 12, "section header"))
        body = position + 12
        if body + size > end:
            raise FormatError(f"section {section_type} runs past the end of the file")
        sections.setdefault(section_type, []).append((body, size))
        position = body + size
    if position != end:
        raise FormatError("the sections do not add up to the file's size")
    return sections


def _unique(sections: dict[int, list[tuple[int, int]]], section_type: int) -> tuple[int, int]:
    found = sections.get(section_type, [])
    if len(found) != 1:
        raise FormatError(f"expected one section {section_type}, found {len(found)}")
    return found[0]


def _parameters(handle: BinaryIO, length: int) -> tuple[str, str, int]:
    """(name, beacon hash hex, iterations exponent) from a contribution's parameter block."""
    block = _read_exact(handle, length, "contribution parameters")
    name, beacon, iterations = "", "", 0
    position, last = 0, 0
    while position < length:
        kind = block[position]
        if kind <= last:
            raise FormatError("contribution parameters out of order")
        last = kind
        if kind == 2:
            iterations = block[position + 1]
            position += 2
            continue
        if kind not in (1, 3) or position + 2 > length:
            raise FormatError(f"unknown contribution parameter {kind}")
        size = block[position + 1]
        value = block[position + 2 : position + 2 + size]
        if len(value) != size:
            raise FormatError("truncated contribution parameter")
        if kind == 1:
            name = value.decode("utf-8", errors="replace")
        else:
            beacon = value.hex()
        position += 2 + size
    return name, beacon, iterations


def _contributions(handle: BinaryIO, count: int, points_size: int, end: int) -> tuple[Contribution, ...]:
    if count > 100_000:
        raise FormatError(f"implausible number of contributions ({count})")
    found = []
    for index in range(1, count + 1):
        start = handle.tell()
        handle.seek(points_size, os.SEEK_CUR)
        (kind,) = struct.unpack("<I", _read_exact(handle, 4, "contribution type"))
        (length,) = struct.unpack("<I", _read_exact(handle, 4, "contribution parameter length"))
        if handle.tell() + length > end:
            raise FormatError("a contribution runs past its section")
        name, beacon, iterations = _parameters(handle, length)
        stop = handle.tell()
        handle.seek(start)
        raw = _read_exact(handle, stop - start, "contribution")
        found.append(Contribution(index, kind, name, beacon, iterations, raw))
    if handle.tell() != end:
        raise FormatError("the contributions section has bytes left over")
    return tuple(found)


def read_ptau(path: Path) -> PtauInfo:
    """The header and the contributions of a .ptau file (FormatError if it is not one)."""
    with open(path, "rb") as handle:
        sections = _sections(handle, b"ptau")
        offset, _ = _unique(sections, 1)
        handle.seek(offset)
        (n8,) = struct.unpack("<I", _read_exact(handle, 4, "header"))
        if n8 not in (32, 48):
            raise FormatError(f"unexpected field size {n8} in the header")
        handle.seek(n8, os.SEEK_CUR)
        power, ceremony_power = struct.unpack("<II", _read_exact(handle, 8, "header"))
        offset, size = _unique(sections, PTAU_CONTRIBUTIONS_SECTION)
        handle.seek(offset)
        (count,) = struct.unpack("<I", _read_exact(handle, 4, "contribution count"))
        g1, g2 = 2 * n8, 4 * n8
        # tauG1, tauG2, alphaG1, betaG1, betaG2; the public key (6 G1, 3 G2); partial hash; next challenge.
        points = 3 * g1 + 2 * g2 + 6 * g1 + 3 * g2 + 216 + 64
        return PtauInfo(power, ceremony_power, _contributions(handle, count, points, offset + size))


def ptau_contribution_count(path: Path) -> int:
    """How many contributions with secret randomness the ptau file's phase 1 had (a final beacon not counted)."""
    return read_ptau(path).secret_contributions


def read_zkey(path: Path) -> ZkeyInfo:
    """The circuit hash and the phase-2 contributions of a Groth16 .zkey file (FormatError if it is not one)."""
    with open(path, "rb") as handle:
        sections = _sections(handle, b"zkey")
        offset, _ = _unique(sections, ZKEY_HEADER_SECTION)
        handle.seek(offset)
        (protocol,) = struct.unpack("<I", _read_exact(handle, 4, "protocol"))
        if protocol != GROTH16_PROTOCOL_ID:
            raise FormatError("not a Groth16 zkey")
        offset, _ = _unique(sections, ZKEY_GROTH16_HEADER_SECTION)
        handle.seek(offset)
        (n8q,) = struct.unpack("<I", _read_exact(handle, 4, "header"))
        if n8q not in (32, 48):
            raise FormatError(f"unexpected field size {n8q} in the header")
        offset, size = _unique(sections, ZKEY_CONTRIBUTIONS_SECTION)
        handle.seek(offset)
        circuit_hash = _read_exact(handle, 64, "circuit hash").hex()
        (count,) = struct.unpack("<I", _read_exact(handle, 4, "contribution count"))
        # deltaAfter, delta.g1_s, delta.g1_sx (G1), delta.g2_spx (G2), transcript.
        points = 3 * 2 * n8q + 4 * n8q + 64
        return ZkeyInfo(circuit_hash, _contributions(handle, count, points, offset + size))


def hermez_hint(power: int) -> str:
    """Where the public multi-party file of the same size is (what to use instead of a single contributor)."""
    return HERMEZ_PTAU_URL.format(power=f"{max(power, 8):02d}")
