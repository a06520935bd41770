#!/usr/bin/env python3
"""Records pandas' sum, mean and std of long float columns with nulls, for the streaming
aggregates of crates/quality (numpy's pairwise sum walked as values arrive; GE's column
sum/mean/stdev expectations take these numbers from pandas).

The GE golden fixtures have 40 rows, below numpy's 128-value block, so they never reach the
pairwise split; these columns do. The values come from a xorshift64 generator written the same
way in the Rust test (crates/quality/src/aggregate/column.rs), so only the seeds, lengths and
pandas' answers (as IEEE-754 bit patterns) are stored.

Usage, with the GE fixtures' environment (tests/fixtures/ge/README.md) or any pandas 3 / numpy 2:

    ../venv-ge/bin/python scripts/pandas-moments.py

It writes crates/quality/tests/fixtures/pandas/moments.json.
"""

import json
import pathlib
import struct

import numpy as np
import pandas as pd

OUT = pathlib.Path("crates/quality/tests/fixtures/pandas/moments.json")
MASK = (1 << 64) - 1
SCALES = [1e-3, 1.0, 1e3]


def column(seed, n):
    """n values (None for a null) from xorshift64; mirrored in the Rust test."""
    state = seed
    values = []
    for _ in range(n):
        draws = []
        for _ in range(3):
            state ^= (state << 13) & MASK
            state ^= state >> 7
            state ^= (state << 17) & MASK
            draws.append(state)
        if draws[0] % 10 == 0:
            values.append(None)
            continue
        unit = (draws[1] >> 11) / float(1 << 53)
        values.append((unit * 2e6 - 1e6) * SCALES[draws[2] % 3])
    return values


def bits(value):
    return struct.unpack("<Q", struct.pack("<d", float(value)))[0]


def main():
    cases = []
    for seed, n in [(1, 7), (2, 100), (3, 129), (4, 1000), (5, 4099), (6, 100_003)]:
        series = pd.Series([np.nan if v is None else v for v in column(seed, n)], dtype="float64")
        cases.append(
            {
                "seed": seed,
                "rows": n,
                "nulls": int(series.isna().sum()),
                "sum": bits(series.sum()),
                "mean": bits(series.mean()),
                "std": bits(series.std()),
            }
        )
    document = {
        "generator": "scripts/pandas-moments.py",
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "note": "sum, mean and std are f64 bit patterns",
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"{len(cases)} columns written to {OUT}")


if __name__ == "__main__":
    main()
