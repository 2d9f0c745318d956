"""Well-formedness of the keys a plot is made for: BLS12-381 G1 public keys (farmer, pool) and pool contract addresses.

A G1 public key is 48 bytes, compressed (the top bit of its first byte set), given as 96 hex digits (``0x`` allowed).
A pool contract address is a bech32m string (BIP-350) with prefix ``xch`` (mainnet) or ``txch`` (testnet) whose data is
a 32-byte puzzle hash. These checks catch typos and cut-off pastes; they do not prove a key is on the curve.
"""

from __future__ import annotations

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32M_CONST = 0x2BC830A3
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
CONTRACT_PREFIXES = ("xch", "txch")


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def bech32m_decode(text: str) -> tuple[str, list[int]]:
    """(human-readable part, 5-bit data without the checksum); ValueError saying what is wrong (BIP-350)."""
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise ValueError("has characters outside printable ASCII")
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixes upper and lower case")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text) or len(text) > 90:
        raise ValueError("is not a bech32m string (prefix, '1', data and a 6-character checksum)")
    hrp, rest = text[:pos], text[pos + 1 :]
    bad = [c for c in rest if c not in _CHARSET]
    if bad:
        raise ValueError(f"has {bad[0]!r}, not a bech32 character")
    data = [_CHARSET.index(c) for c in rest]
    if _polymod(_hrp_expand(hrp) + data) != _BECH32M_CONST:
        raise ValueError("has a wrong bech32m checksum (a typo, or a cut-off paste?)")
    return hrp, data[:-6]


def bech32m_encode(hrp: str, data: list[int]) -> str:
    values = _hrp_expand(hrp) + data
    mod = _polymod([*values, 0, 0, 0, 0, 0, 0]) ^ _BECH32M_CONST
    return hrp + "1" + "".join(_CHARSET[d] for d in data + [(mod >> 5 * (5 - i)) & 31 for i in range(6)])


def convert_bits(data: list[int], frm: int, to: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << to) - 1
    for value in data:
        acc = (acc << frm) | value
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (to - bits)) & maxv)
    elif not pad and (bits >= frm or (acc << (to - bits)) & maxv):
        raise ValueError("has padding bits that are not zero")
    return out


def encode_contract_address(puzzle_hash: bytes, prefix: str = "xch") -> str:
    return bech32m_encode(prefix, convert_bits(list(puzzle_hash), 8, 5, True))


def check_contract_address(text: str) -> str:
    """The address, checked: ``xch1...``/``txch1...`` bech32m of a 32-byte puzzle hash. ValueError otherwise."""
    hrp, data = bech32m_decode(text)
    if hrp not in CONTRACT_PREFIXES:
        raise ValueError(f"starts with {hrp!r}; a pool contract address starts with xch1 or txch1")
    if len(convert_bits(data, 5, 8, False)) != 32:
        raise ValueError("does not hold a 32-byte puzzle hash")
    return text.lower()


def check_g1_hex(text: str) -> str:
    """The key as 96 lower-case hex digits, checked: a compressed BLS12-381 G1 point is 48 bytes with the top bit
    of the first set. ValueError otherwise."""
    h = text[2:] if text[:2].lower() == "0x" else text
    if len(h) != 96:
        raise ValueError(f"is {len(h)} characters long; a G1 public key is 48 bytes, 96 hex digits")
    try:
        first = bytes.fromhex(h)[0]
    except ValueError:
        raise ValueError("is not hexadecimal") from None
    if not first & 0x80:
        raise ValueError("is not a compressed G1 point (the first byte's top bit is clear)")
    return h.lower()
