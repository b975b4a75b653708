"""Min-max normalisation of a stack to [0, 1] and back (the paper's intensity scale)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def intensity_range(data: np.ndarray, chunk: int = 16) -> tuple[float, float]:
    """Min and max over the whole stack, read in chunks (works on memmaps)."""
    lo, hi = np.inf, -np.inf
    for start in range(0, data.shape[0], chunk):
        block = np.asarray(data[start : start + chunk])
        lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
    return lo, hi


@dataclass(frozen=True)
class Normalizer:
    """Min-max scaling to [0, 1] (the paper's normalisation); ``inverse`` returns input units.

    The threshold ``th`` of Eq. 3 lives on this [0, 1] scale, so 0.01 means 1 % of the stack's range
    (for CT in HU over [-1024, 3071], about 41 HU).
    """

    low: float
    high: float
    dtype: str

    @classmethod
    def fit(cls, data: np.ndarray) -> Normalizer:
        lo, hi = intensity_range(data)
        return cls(low=lo, high=hi, dtype=str(np.dtype(data.dtype)))

    @property
    def scale(self) -> float:
        return self.high - self.low

    def forward(self, data: np.ndarray) -> np.ndarray:
        out = np.asarray(data, dtype=np.float32) - np.float32(self.low)
        out *= np.float32(1.0 / self.scale)
        return out

    def inverse(self, data: np.ndarray, cast: bool = False) -> np.ndarray:
        """Back to input units as float32; with ``cast`` round and clip to the input dtype."""
        out = np.asarray(data, dtype=np.float64) * self.scale + self.low
        return self.cast(out) if cast else out.astype(np.float32)

    def cast(self, units: np.ndarray) -> np.ndarray:
        """Values in input units to the input dtype (rounded and clipped for integers)."""
        out = np.asarray(units, dtype=np.float64)
        dtype = np.dtype(self.dtype)
        if dtype.kind in "iub":
            info = np.iinfo(dtype) if dtype.kind != "b" else None
            out = np.rint(out)
            if info is not None:
                out = np.clip(out, info.min, info.max)
        return out.astype(dtype)

    def to_dict(self) -> dict[str, float | str]:
        return {"low": self.low, "high": self.high, "dtype": self.dtype}

    @classmethod
    def from_dict(cls, values: dict) -> Normalizer:
        return cls(low=float(values["low"]), high=float(values["high"]), dtype=str(values["dtype"]))
