"""How an output is compared with the reference: integer outputs bit for bit; float32 outputs
within a stated tolerance (the engine follows the reference kernels' summation order where it can,
but the device's libm, FMA contraction and the reference's own build may differ in the last bits),
reporting the largest absolute and relative errors and whether the argmax agrees."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# |device - reference| <= FLOAT_ATOL + FLOAT_RTOL * |reference|, element by element
FLOAT_RTOL = 1e-4
FLOAT_ATOL = 1e-5
TOLERANCE = f"|device - reference| <= {FLOAT_ATOL:g} + {FLOAT_RTOL:g} * |reference|"


@dataclass
class Agreement:
    """What a set of compared cases showed."""

    cases: int = 0
    mismatches: int = 0            # cases with an integer output not bit-exact or a float
    mismatched: list[int] = field(default_factory=list)  # one outside the tolerance
    max_abs_error: float = 0.0     # over float outputs
    max_rel_error: float = 0.0
    argmax_disagreements: int = 0  # cases whose first output's argmax differs
    float_outputs: bool = False

    def add(self, device: list[np.ndarray], reference: list[np.ndarray]) -> bool:
        """Compare one case; True where it agrees."""
        ok = len(device) == len(reference)
        for d, r in zip(device, reference):
            r = np.asarray(r).reshape(np.shape(d))
            if np.issubdtype(np.asarray(d).dtype, np.floating):
                self.float_outputs = True
                d64, r64 = np.asarray(d, np.float64), np.asarray(r, np.float64)
                finite = np.isfinite(d64) & np.isfinite(r64)
                same_special = (d64 == r64) | (np.isnan(d64) & np.isnan(r64))
                if d64.size:
                    # NaN and infinities agree only with the same value (error 0, else inf)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        diff = np.abs(d64 - r64)
                        err = np.where(finite, diff, np.where(same_special, 0.0, np.inf))
                        rel = np.where(err > 0, err / np.maximum(np.abs(r64), 1e-30), 0)
                        bound = FLOAT_ATOL + FLOAT_RTOL * np.abs(r64)
                    self.max_abs_error = max(self.max_abs_error, float(err.max()))
                    self.max_rel_error = max(self.max_rel_error, float(rel.max()))
                    ok &= bool(np.all(np.where(finite, err <= bound, err == 0)))
            else:
                ok &= bool(np.array_equal(d, r))
        if device and reference and np.size(device[0]) > 1:
            if int(np.argmax(device[0])) != int(np.argmax(np.asarray(reference[0]))):
                self.argmax_disagreements += 1
        if not ok:
            self.mismatched.append(self.cases)
            self.mismatches += 1
        self.cases += 1
        return ok

    def report(self) -> dict[str, object]:
        out: dict[str, object] = {"mismatches": self.mismatches,
                                  "argmax_disagreements": self.argmax_disagreements}
        if self.float_outputs:
            out.update(max_abs_error=self.max_abs_error, max_rel_error=self.max_rel_error,
                       float_tolerance=TOLERANCE)
        return out
