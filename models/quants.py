"""Quantizers as block codecs: quantize_blocks((n_blocks, block) float32) -> (n_blocks, type_size) uint8.

Vectorized numpy, one class per type, registered by ggml type. The 32-value types follow ggml's
reference quantizers and produce the same bytes as the gguf package; the K-quants pick each
sub-block's scale (and min) by a small search that minimizes the squared error, and are checked
by decoding them with the gguf package (error-bounded, not byte-compared: gguf has no K-quant
quantizer).
"""
from __future__ import annotations

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

Q = GGMLQuantizationType
CODECS: dict[Q, type[Codec]] = {}


def register(cls):
    CODECS[cls.qtype] = cls
    cls.block, cls.type_size = GGML_QUANT_SIZES[cls.qtype]
    return cls


def quantize(x: np.ndarray, qtype: Q) -> np.ndarray:
    """Quantize rows of x (last dim a multiple of the block) to raw bytes, one row per row."""
    codec = CODECS[qtype]
    x = np.asarray(x, dtype=np.float32)
    if x.shape[-1] % codec.block:
        raise ValueError(f"rows of {x.shape[-1]} are not a whole number of {qtype.name} blocks of {codec.block}")
    blocks = x.reshape(-1, codec.block)
    return codec.quantize_blocks(blocks).reshape(*x.shape[:-1], x.shape[-1] // codec.block * codec.type_size)


class Codec:
    qtype: Q
    block: int
    type_size: int

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _f16_bytes(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float16).reshape(-1, 1).view(np.uint8)


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """(n, 32) values 0..15 -> (n, 16) bytes: value j in the low nibble, j + 16 in the high one."""
    return (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)


def _signed_max(blocks: np.ndarray) -> np.ndarray:
    """Per block, the value of largest magnitude, with its sign."""
    return np.take_along_axis(blocks, np.abs(blocks).argmax(axis=1)[:, None], axis=1)


def _inverse(d: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(d == 0, 0, 1 / d)


@register
class Q8_0(Codec):
    qtype = Q.Q8_0

    @classmethod
    def quantize_blocks(cls, blocks):
        d = np.abs(blocks).max(axis=1, keepdims=True) / 127
        q = np.round(blocks * _inverse(d)).astype(np.int8)  # ties to even, as gguf-py
        return np.concatenate([_f16_bytes(d), q.view(np.uint8)], axis=1)


def _symmetric(blocks: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """ggml's Q4_0/Q5_0 rule: d = signed max / -(levels/2), q = trunc(x/d + levels/2 + 0.5) in 0..levels-1."""
    half = levels // 2
    d = _signed_max(blocks) / -half
    q = np.trunc(blocks.astype(np.float64) * _inverse(d).astype(np.float64) + (half + 0.5))
    return d, q.astype(np.float32).astype(np.uint8).clip(0, levels - 1)


def _with_min(blocks: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ggml's Q4_1/Q5_1 rule: x ~ d * q + min over the block's range, q = trunc((x-min)/d + 0.5)."""
    lo = blocks.min(axis=1, keepdims=True)
    d = (blocks.max(axis=1, keepdims=True) - lo) / (levels - 1)
    q = np.trunc((blocks - lo) * _inverse(d) + np.float32(0.5)).astype(np.uint8).clip(0, levels - 1)
    return d, lo, q


@register
class Q4_0(Codec):
    qtype = Q.Q4_0

    @classmethod
    def quantize_blocks(cls, blocks):
        d, q = _symmetric(blocks, 16)
        return np.concatenate([_f16_bytes(d), _pack_nibbles(q)], axis=1)


@register
class Q4_1(Codec):
    qtype = Q.Q4_1

    @classmethod
    def quantize_blocks(cls, blocks):
        d, lo, q = _with_min(blocks, 16)
        return np.concatenate([_f16_bytes(d), _f16_bytes(lo), _pack_nibbles(q)], axis=1)


def _q5_high_bits(q: np.ndarray) -> np.ndarray:
    """(n, 32) values 0..31 -> (n, 4) bytes: bit 4 of value j at bit j, little-endian."""
    bits = (q >> 4).astype(np.uint32) << np.arange(32, dtype=np.uint32)
    return bits.sum(axis=1, dtype=np.uint32).astype("<u4").reshape(-1, 1).view(np.uint8)


@register
class Q5_0(Codec):
    qtype = Q.Q5_0

    @classmethod
    def quantize_blocks(cls, blocks):
        d, q = _symmetric(blocks, 32)
        return np.concatenate([_f16_bytes(d), _q5_high_bits(q), _pack_nibbles(q & 15)], axis=1)


@register
class Q5_1(Codec):
    qtype = Q.Q5_1

    @classmethod
    def quantize_blocks(cls, blocks):
        d, lo, q = _with_min(blocks, 32)
        return np.concatenate([_f16_bytes(d), _f16_bytes(lo), _q5_high_bits(q), _pack_nibbles(q & 15)], axis=1)


# ---------------------------------------------------------------------------------------------
# K-quants: 256-value super-blocks of sub-blocks, each with its own quantized scale (and min).

def _fit_scale_min(x: np.ndarray, nmax: int, steps: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Per row of x (sub-blocks), scale d and min m (m <= 0) so x ~ d * q + m, q in 0..nmax,
    choosing among `steps` candidate ranges the one with the least squared error."""
    lo = np.minimum(x.min(axis=1, keepdims=True), 0)
    hi = x.max(axis=1, keepdims=True)
    best_err = np.full((x.shape[0], 1), np.inf, dtype=np.float32)
    best_d = np.zeros_like(best_err)
    best_m = np.zeros_like(best_err)
    for f in np.linspace(0.6, 1.0, steps):
        d = (hi - lo) * f / nmax
        m = lo * f
        q = np.clip(np.round((x - m) * _inverse(d)), 0, nmax)
        err = ((d * q + m - x) ** 2).sum(axis=1, keepdims=True)
        better = err < best_err
        best_err, best_d, best_m = np.where(better, err, best_err), np.where(better, d, best_d), np.where(better, m, best_m)
    return best_d, best_m


def _pack_scales_k4(sc: np.ndarray, mn: np.ndarray) -> np.ndarray:
    """Eight 6-bit scales and mins per super-block into the 12-byte layout Q4_K and Q5_K share."""
    out = np.zeros((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = (mn[:, 0:4] & 63) | ((mn[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 15) | ((mn[:, 4:8] & 15) << 4)
    return out


def _scale_min_quantize(blocks: np.ndarray, nmax: int, sub_size: int, factor_max: int):
    """K-quants with a min (Q2_K, Q4_K, Q5_K): per sub-block of sub_size values x ~ d*sc*q - dmin*mn,
    q in 0..nmax, sc and mn in 0..factor_max. Returns d, dmin, sc, mn (n, subs) and q (n, 256)."""
    n, subs = blocks.shape[0], 256 // sub_size
    sub = blocks.reshape(n * subs, sub_size)
    d_sub, m_sub = _fit_scale_min(sub, nmax)
    d_sub, m_sub = d_sub.reshape(n, subs), -m_sub.reshape(n, subs)  # stored mins are subtracted
    d = d_sub.max(axis=1, keepdims=True) / factor_max
    dmin = m_sub.max(axis=1, keepdims=True) / factor_max
    sc = np.clip(np.round(d_sub * _inverse(d)), 0, factor_max).astype(np.uint8)
    mn = np.clip(np.round(m_sub * _inverse(dmin)), 0, factor_max).astype(np.uint8)
    # Re-quantize each value with the scales as they will be decoded (f16 d and dmin, integer factors).
    eff_d = (_as_f16(d) * sc).reshape(n * subs, 1)
    eff_m = (_as_f16(dmin) * mn).reshape(n * subs, 1)
    q = np.clip(np.round((sub + eff_m) * _inverse(eff_d)), 0, nmax).astype(np.uint8).reshape(n, 256)
    return d, dmin, sc, mn, q


def _signed_scale_quantize(blocks: np.ndarray, q_min: int, sc_max: int):
    """K-quants without a min (Q3_K, Q6_K): per 16 values x ~ d * sc * q, q in q_min..-q_min-1,
    sc in -sc_max-1..sc_max from the value of largest magnitude. Returns d, sc (n, 16), q - q_min."""
    n = blocks.shape[0]
    sub = blocks.reshape(n * 16, 16)
    s = (_signed_max(sub) / q_min).reshape(n, 16)
    d = np.abs(s).max(axis=1, keepdims=True) / sc_max
    sc = np.clip(np.round(s * _inverse(d)), -sc_max - 1, sc_max).astype(np.int32)
    eff = (_as_f16(d) * sc).reshape(n * 16, 1)
    q = (np.clip(np.round(sub * _inverse(eff)), q_min, -q_min - 1) - q_min).astype(np.uint8).reshape(n, 256)
    return d, sc, q


def _as_f16(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float16).astype(np.float32)


def _k4_nibbles(q: np.ndarray) -> np.ndarray:
    """(n, 256) 4-bit values -> (n, 128): per 64 values, low nibbles hold 0..31, high ones 32..63."""
    c = q.reshape(-1, 4, 2, 32)
    return (c[:, :, 0, :] | (c[:, :, 1, :] << 4)).reshape(-1, 128).astype(np.uint8)


@register
class Q4_K(Codec):
    qtype = Q.Q4_K

    @classmethod
    def quantize_blocks(cls, blocks):
        d, dmin, sc, mn, q = _scale_min_quantize(blocks, 15, 32, 63)
        return np.concatenate([_f16_bytes(d), _f16_bytes(dmin), _pack_scales_k4(sc, mn), _k4_nibbles(q)], axis=1)


@register
class Q5_K(Codec):
    qtype = Q.Q5_K

    @classmethod
    def quantize_blocks(cls, blocks):
        d, dmin, sc, mn, q = _scale_min_quantize(blocks, 31, 32, 63)
        # Bit 4 of value 64c + l goes to bit 2c of qh[l], of value 64c + 32 + l to bit 2c + 1.
        hb = (q >> 4).reshape(-1, 4, 2, 32).astype(np.uint8)
        shifts = (2 * np.arange(4)[:, None] + np.arange(2)[None, :]).astype(np.uint8)
        qh = (hb << shifts[None, :, :, None]).sum(axis=(1, 2), dtype=np.uint8)
        return np.concatenate([_f16_bytes(d), _f16_bytes(dmin), _pack_scales_k4(sc, mn), qh, _k4_nibbles(q & 15)],
                              axis=1)


@register
class Q6_K(Codec):
    qtype = Q.Q6_K

    @classmethod
    def quantize_blocks(cls, blocks):
        n = blocks.shape[0]
        d, sc, q = _signed_scale_quantize(blocks, -32, 127)
        q = q.reshape(n, 2, 4, 32)
        # Per half of 128 values: ql holds low nibbles of groups (0, 2) | (1, 3) << 4; qh the top 2 bits.
        ql = np.concatenate([q[:, :, 0] & 15 | (q[:, :, 2] & 15) << 4, q[:, :, 1] & 15 | (q[:, :, 3] & 15) << 4], axis=2)
        qh = (q[:, :, 0] >> 4) | (q[:, :, 1] >> 4) << 2 | (q[:, :, 2] >> 4) << 4 | (q[:, :, 3] >> 4) << 6
        return np.concatenate([ql.reshape(n, 128).astype(np.uint8), qh.reshape(n, 64).astype(np.uint8),
                               sc.astype(np.int8).view(np.uint8), _f16_bytes(d)], axis=1)


def _low_bit_layout(q: np.ndarray) -> np.ndarray:
    """(n, 256) 2-bit values -> (n, 64) bytes as Q2_K/Q3_K store them: per half of 128 values,
    byte l (0..31) holds, at bit 2j, value 32j + l; 16 values of each 32 share a byte row."""
    c = q.reshape(-1, 2, 4, 32).astype(np.uint8)  # half, j, l
    return sum((c[:, :, j, :] & 3) << (2 * j) for j in range(4)).reshape(-1, 64).astype(np.uint8)


@register
class Q3_K(Codec):
    qtype = Q.Q3_K

    @classmethod
    def quantize_blocks(cls, blocks):
        n = blocks.shape[0]
        d, sc, q = _signed_scale_quantize(blocks, -4, 31)  # q in 0..7 stands for -4..3
        # Bit 2 of value 128h + 32j + l goes to bit 4h + j of hmask[l].
        hb = (q >> 2).reshape(n, 2, 4, 32)
        hmask = sum(hb[:, h, j, :] << (4 * h + j) for h in range(2) for j in range(4)).astype(np.uint8)
        # 16 six-bit scales (+32): low nibbles in bytes 0..7, the top two bits in bytes 8..11.
        u = (sc + 32).astype(np.uint8)
        scales = np.zeros((n, 12), dtype=np.uint8)
        scales[:, 0:8] = (u[:, 0:8] & 15) | ((u[:, 8:16] & 15) << 4)
        for i in range(16):
            scales[:, 8 + i % 4] |= ((u[:, i] >> 4) & 3) << (2 * (i // 4))
        return np.concatenate([hmask, _low_bit_layout(q & 3), scales, _f16_bytes(d)], axis=1)


@register
class Q2_K(Codec):
    qtype = Q.Q2_K

    @classmethod
    def quantize_blocks(cls, blocks):
        d, dmin, sc, mn, q = _scale_min_quantize(blocks, 3, 16, 15)
        return np.concatenate([sc | (mn << 4), _low_bit_layout(q), _f16_bytes(d), _f16_bytes(dmin)], axis=1)
