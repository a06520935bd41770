#!/usr/bin/env python3
"""Records what the real python-dateutil says about a list of strings, for the Rust port in
crates/quality/src/dateutil.rs (expect_column_values_to_be_dateutil_parseable).

For each string it records:
- `parseable`: whether `dateutil.parser.parse(s)` succeeds, caught as GE catches it
  (ValueError or OverflowError means "not parseable");
- `parsed`: the result of `parse(s, default=DEFAULT)` as a naive ISO date-time plus the UTC
  offset in seconds (null when the string names no zone dateutil knows), or null if it raised.

Usage (from the repository root; needs python-dateutil, `pip install python-dateutil`):

    python3 scripts/dateutil-cases.py

It writes crates/quality/tests/fixtures/dateutil/cases.json. Run it on a machine whose local
time zone is UTC: a zone name equal to the local one is the one thing that depends on it.
"""

import datetime
import json
import pathlib
import platform
import time
import warnings

import dateutil
from dateutil.parser import parse

DEFAULT = datetime.datetime(2001, 2, 3)
OUT = pathlib.Path("crates/quality/tests/fixtures/dateutil/cases.json")

CASES = [
    # ISO 8601 and its relatives
    "2024-01-05",
    "2024-01-05 10:00",
    "2024-01-05 10:00:00",
    "2024-01-05T10:00:00",
    "2024-01-05T10:00:00Z",
    "2024-01-05T10:00:00z",
    "2024-01-05T10:00:00.123456",
    "2024-01-05T10:00:00.1234567",
    "2024-01-05T10:00:00.5+02:00",
    "2024-01-05T10:00:00-0530",
    "2024-01-05T10:00:00+05",
    "2024-01-05 10:00:00 UTC",
    "2024-01-05 10:00:00 GMT",
    "2024-01-05 10:00 GMT+3",
    "2024-01-05 10:00:00 +0100 (CET)",
    "2024-01-05 10:00 EST",
    "2024-01-05 10",
    "2024-01-05,10:00",
    "20240105",
    "20240105T101530",
    "20240105 1015",
    "202401051015",
    "240105",
    "2024-01",
    "2024",
    "  2024-01-05  ",
    "2023-12-31 23:59:59",
    "9999-12-31 23:59:59.999999",
    "0001-01-01",
    # names of months and days
    "Jan 5 2024",
    "January 5, 2024",
    "5 January 2024",
    "5 Jan 2024 10:00 PM",
    "Friday, January 5, 2024",
    "Fri Jan  5 10:00:00 2024",
    "Fri, 05 Jan 2024 10:00:00 +0000",
    "Jan-05-2024",
    "05-Jan-2024",
    "2024-Jan-05",
    "5th of January 2024",
    "on Jan 5th, 2024 at 10am",
    "June of 2024",
    "Sept 2024",
    "March 5 2024",
    "March",
    "Monday",
    "Mon",
    "Monday Tuesday",
    "Feb 29 2024",
    # numbers with slashes and dots
    "01/05/2024",
    "1/5/24",
    "13/05/2024",
    "2024/01/05",
    "05.01.2024",
    "2024.01.05",
    "12/31/99",
    "0042",
    "99",
    "12.5",
    # times alone
    "10:00",
    "10:00:30",
    "10:00:30.25",
    "10:00 AM",
    "10:00 pm",
    "10am",
    "12 pm",
    "12am",
    "3pm",
    "13 PM",
    "10h30m",
    "10h",
    "1.5h",
    "10:30.5",
    "10:00 Z",
    "T10:00",
    # not dates
    "",
    " ",
    "yesterday",
    "today",
    "random words",
    "hello 2024",
    "2024-13-45",
    "32/01/2024",
    "2024-02-30",
    "2024-02-30 10:00:00",
    "Feb 29 2023",
    "2024-01-05T25:00",
    "25:00",
    "10:61",
    "10:00:60",
    "13:00 PM",
    "PM",
    "A001",
    "X1",
    "AB12",
    "ABCDE",
    "NaN",
    "inf",
    "1.2.3.4",
    "2024-01-05 +",
    "10:00 +123",
    "Jan Feb 2024",
    "0000-01-01",
    "10000-01-01",
    "1e5",
    "true",
    "null",
    "N/A",
    "-",
    "Dec 31 9999 Fri",
    "2024-01-05 10:00:00:00",
]


def iso(value):
    naive = value.replace(tzinfo=None).isoformat()
    offset = value.utcoffset()
    return {
        "datetime": naive,
        "offset_seconds": None if offset is None else int(offset.total_seconds()),
    }


def attempt(text, **kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return True, parse(text, **kwargs)
    except (ValueError, OverflowError):
        return False, None


def main():
    if time.tzname[0] != "UTC":
        raise SystemExit(f"run with TZ=UTC (local zone is {time.tzname})")
    if len(set(CASES)) != len(CASES):
        raise SystemExit("duplicate cases")
    cases = []
    for text in CASES:
        parseable, _ = attempt(text)
        ok, value = attempt(text, default=DEFAULT)
        cases.append(
            {"text": text, "parseable": parseable, "parsed": iso(value) if ok else None}
        )
    document = {
        "generator": "scripts/dateutil-cases.py",
        "python": platform.python_version(),
        "python_dateutil": dateutil.__version__,
        "this_year": time.localtime().tm_year,
        "default": DEFAULT.isoformat(),
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    accepted = sum(c["parseable"] for c in cases)
    print(f"{len(cases)} cases ({accepted} parseable) written to {OUT}")


if __name__ == "__main__":
    main()
