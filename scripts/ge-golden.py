"""Golden fixtures from the real Great Expectations 1.x, for the Rust quality engine.

Run from the repository root:

    ../venv-ge/bin/python scripts/ge-golden.py

The venv lives outside the repository. To build it:

    python3 -m venv ../venv-ge
    ../venv-ge/bin/pip install -r crates/quality/tests/fixtures/ge/requirements.lock.txt

(or `pip install 'great_expectations>=1,<2'` and accept whatever versions pip picks;
`manifest.json` records the versions the committed fixtures came from.)

What it does
------------
1. Loads `crates/quality/tests/fixtures/ge/data.csv` with pandas, with the explicit
   reader options and dtypes in `READ_OPTIONS` / `DTYPES` below (see the fixtures
   README for why), and converts `signup_date` to `datetime64[ns]`.
2. Builds the expectation suites defined in `SUITES` in an ephemeral GX context
   (`gx.get_context(mode="ephemeral")`, `add_pandas`, a dataframe asset, a
   whole-dataframe batch definition).
3. Writes each suite as GX serializes it (`suite.to_json_dict()`) to `suites/<name>.json`
   and each validation result (`result.to_json_dict()`) to
   `expected/<name>.<RESULT_FORMAT>[.<variant>].json`.
4. Writes `expected/rejected_configurations.json`: cases GX refused to build, or that
   `ExpectationSuite.add_expectation` silently dropped as duplicates.
5. Writes `manifest.json` (versions, reader options, resulting dtypes, and each expected
   file with its suite and exact result_format argument).

Environment: `GE_GOLDEN_OUT=/dir` writes somewhere other than the fixtures folder (to
diff two runs, or two pandas versions); `GE_GOLDEN_ANY_HASHSEED=1` keeps the caller's
PYTHONHASHSEED instead of forcing 0.

Fields that vary between runs are normalized (see `normalize_*`): suite and
expectation `id`s (random UUIDs) are removed; in validation results
`meta.run_id`, `meta.validation_time`, `meta.batch_markers.ge_load_time` and the
suite `id` are removed, every `exception_traceback` string is replaced by
"<stripped>" (it holds absolute paths and line numbers of the installed GX), and
an `exception_info` keyed by metric ids gets its keys sorted (GX builds it from a
set, so its order changes from run to run).
numpy scalars (GX leaves a numpy.bool_ in the quantile expectation's `success`) are
written as plain JSON values. Nothing else is touched. JSON is written with
`sort_keys=False` (GX's own key order), indent 2, `allow_nan=False` (so a NaN leaking
into a result fails loudly).

The script sets PYTHONHASHSEED=0 (re-executing itself if needed). After the
normalization above the output was checked to be the same under other seeds too.
"""

from __future__ import annotations

import json
import os
import sys

if os.environ.get("PYTHONHASHSEED") != "0" and not os.environ.get("GE_GOLDEN_ANY_HASHSEED"):
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

# Keep GX from phoning home or writing anywhere but our output directory.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import importlib.metadata as md  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = REPO / "crates" / "quality" / "tests" / "fixtures" / "ge"
OUT = pathlib.Path(os.environ.get("GE_GOLDEN_OUT", FIXTURES))

# ---------------------------------------------------------------------------
# Loading. A Rust reader must reproduce exactly this.
# ---------------------------------------------------------------------------
# Only an empty field is null: pandas' default NA strings ("NA", "n/a", "null",
# "NaN", "None", ...) are turned off, so e.g. the email "n/a" and the JSON text
# "null"/"NaN" stay strings.
READ_OPTIONS = {
    "keep_default_na": False,
    "na_values": [""],
    "encoding": "utf-8",
}
DTYPES = {
    "id": "int64",
    "email": "str",
    "amount": "float64",
    "qty": "int64",
    "status": "str",
    "created_at": "str",  # stays text: one value is not a date at all
    "signup_date": "str",  # read as text, then converted below
    "json_blob": "str",
    "code": "str",
    "a": "float64",
    "b": "float64",
    "seq": "Int64",  # nullable integer (pd.NA)
    "countdown": "int64",
    "p1": "Int64",
    "p2": "Int64",
    "p3": "Int64",
    "blank": "float64",  # every value empty -> all NaN
}


def load_frame() -> pd.DataFrame:
    df = pd.read_csv(FIXTURES / "data.csv", dtype=DTYPES, **READ_OPTIONS)
    # All non-empty signup_date values are valid YYYY-MM-DD dates; nulls become NaT.
    df["signup_date"] = pd.to_datetime(df["signup_date"], format="%Y-%m-%d").astype(
        "datetime64[ns]"
    )
    return df


ALL_COLUMNS = list(DTYPES)

# ---------------------------------------------------------------------------
# Suites. Each entry: (ExpectationClass, kwargs, note). The note goes into the
# expectation's `meta.note` so a Rust test can print why a case exists.
# ---------------------------------------------------------------------------
E = gxe

TABLE = [
    (E.ExpectTableRowCountToBeBetween, dict(min_value=1, max_value=100), "pass"),
    (E.ExpectTableRowCountToBeBetween, dict(min_value=41, max_value=None), "fail: 40 rows, min only"),
    (E.ExpectTableRowCountToBeBetween, dict(min_value=None, max_value=40), "pass: max only, inclusive"),
    (E.ExpectTableRowCountToBeBetween, dict(min_value=1, max_value=40, strict_max=True), "fail: strict_max excludes 40"),
    (E.ExpectTableRowCountToEqual, dict(value=40), "pass"),
    (E.ExpectTableRowCountToEqual, dict(value=39), "fail"),
    (E.ExpectTableColumnsToMatchOrderedList, dict(column_list=ALL_COLUMNS), "pass: exact order"),
    (
        E.ExpectTableColumnsToMatchOrderedList,
        dict(column_list=["email", "id", *ALL_COLUMNS[2:]]),
        "fail: first two swapped; see details.mismatched",
    ),
    (
        E.ExpectTableColumnsToMatchOrderedList,
        dict(column_list=ALL_COLUMNS[:-1]),
        "fail: list one shorter than the table",
    ),
    (E.ExpectTableColumnsToMatchSet, dict(column_set=list(reversed(ALL_COLUMNS)), exact_match=True), "pass: order ignored"),
    (E.ExpectTableColumnsToMatchSet, dict(column_set=["id", "email", "amount"], exact_match=True), "fail: subset with exact_match"),
    (E.ExpectTableColumnsToMatchSet, dict(column_set=["id", "email", "amount"], exact_match=False), "pass: subset without exact_match"),
    (
        E.ExpectTableColumnsToMatchSet,
        dict(column_set=["id", "email", "not_a_column"], exact_match=False),
        "fail: a listed column is absent",
    ),
    (E.ExpectTableColumnCountToEqual, dict(value=17), "pass"),
    (E.ExpectTableColumnCountToEqual, dict(value=16), "fail"),
    (E.ExpectTableColumnCountToBeBetween, dict(min_value=10, max_value=20), "pass"),
    (E.ExpectTableColumnCountToBeBetween, dict(min_value=18, max_value=None), "fail"),
    (E.ExpectColumnToExist, dict(column="email"), "pass"),
    (E.ExpectColumnToExist, dict(column="email", column_index=1), "pass: 0-based index"),
    (E.ExpectColumnToExist, dict(column="email", column_index=0), "index 0 is falsy: only existence is checked"),
    (E.ExpectColumnToExist, dict(column="id", column_index=1), "fail: id is at 0"),
    (E.ExpectColumnToExist, dict(column="blank", column_index=-1), "negative index counts from the end"),
    (E.ExpectColumnToExist, dict(column="email", column_index=99), "fail: index out of range"),
    (E.ExpectColumnToExist, dict(column="does_not_exist"), "fail: missing column (no exception)"),
    (E.ExpectTableRowCountToEqual, dict(value=39), "same kwargs, different meta: the suite drops it"),
]

EMAIL_RE = r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$"
STRFTIME = "%Y-%m-%d %H:%M:%S"

COLUMN_MAP = [
    # not_be_null / be_null
    (E.ExpectColumnValuesToNotBeNull, dict(column="id"), "pass"),
    (E.ExpectColumnValuesToNotBeNull, dict(column="email"), "fail: 3 nulls"),
    (E.ExpectColumnValuesToNotBeNull, dict(column="email", mostly=0.9), "pass: 37/40 = 0.925"),
    (E.ExpectColumnValuesToNotBeNull, dict(column="email", mostly=0.95), "fail: 37/40 < 0.95"),
    (E.ExpectColumnValuesToNotBeNull, dict(column="email", mostly=0.925), "pass: 37/40 == 0.925, mostly is >="),
    (E.ExpectColumnValuesToNotBeNull, dict(column="seq"), "fail: Int64 column with one pd.NA"),
    (E.ExpectColumnValuesToNotBeNull, dict(column="signup_date"), "fail: datetime column with NaT"),
    (E.ExpectColumnValuesToBeNull, dict(column="email"), "fail: 37 unexpected, more than 20"),
    (E.ExpectColumnValuesToBeNull, dict(column="p2", mostly=0.02), "pass: 1/40 null"),
    # unique
    (E.ExpectColumnValuesToBeUnique, dict(column="id"), "fail: id 7 appears 3 times"),
    (E.ExpectColumnValuesToBeUnique, dict(column="email"), "fail: user7@ twice; nulls ignored"),
    (E.ExpectColumnValuesToBeUnique, dict(column="countdown"), "fail: 10 twice"),
    (E.ExpectColumnValuesToBeUnique, dict(column="id", mostly=0.9), "pass with mostly"),
    (E.ExpectColumnValuesToBeUnique, dict(column="code"), "fail: A007 twice"),
    # regex
    (E.ExpectColumnValuesToMatchRegex, dict(column="email", regex=EMAIL_RE), "fail"),
    (E.ExpectColumnValuesToMatchRegex, dict(column="email", regex=EMAIL_RE, mostly=0.8), "pass with mostly"),
    (E.ExpectColumnValuesToMatchRegex, dict(column="email", regex="(?i)" + EMAIL_RE), "inline case-insensitive flag"),
    (E.ExpectColumnValuesToMatchRegex, dict(column="code", regex=r"\d"), "unanchored: search, not full match"),
    (E.ExpectColumnValuesToMatchRegex, dict(column="code", regex=r"^A\d{3}$"), "anchored"),
    (E.ExpectColumnValuesToMatchRegex, dict(column="code", regex=r"^\w+$"), "\\w is Unicode-aware: ÄBC1 matches"),
    (E.ExpectColumnValuesToMatchRegex, dict(column="qty", regex=r"^[0-4]$"), "regex on an int64 column"),
    (E.ExpectColumnValuesToNotMatchRegex, dict(column="email", regex="@.*@"), "fail: one value has two @"),
    (E.ExpectColumnValuesToNotMatchRegex, dict(column="code", regex=r"^\s|\s$"), "fail: ' AB '"),
    (E.ExpectColumnValuesToNotMatchRegex, dict(column="code", regex=r"^Z"), "pass"),
    (
        E.ExpectColumnValuesToMatchRegexList,
        dict(column="email", regex_list=[r"@example\.com$", r"@example$"], match_on="any"),
        "any",
    ),
    (
        E.ExpectColumnValuesToMatchRegexList,
        dict(column="code", regex_list=[r"^A", r"\d$"], match_on="all"),
        "all",
    ),
    (
        E.ExpectColumnValuesToMatchRegexList,
        dict(column="code", regex_list=[r"^A", r"\d$"]),
        "match_on default",
    ),
    (
        E.ExpectColumnValuesToNotMatchRegexList,
        dict(column="email", regex_list=[r"^\s", r"[A-Z]"]),
        "fail: leading space, upper case",
    ),
    # sets
    (E.ExpectColumnValuesToBeInSet, dict(column="status", value_set=["active", "inactive", "pending"]), "fail: 4 of 39 non-null"),
    (
        E.ExpectColumnValuesToBeInSet,
        dict(column="status", value_set=["active", "inactive", "pending"], mostly=0.9),
        "fail: 35/39 = 0.897 < 0.9 (would pass if the null counted: 36/40)",
    ),
    (
        E.ExpectColumnValuesToBeInSet,
        dict(column="status", value_set=["active", "inactive", "pending"], mostly=0.89),
        "pass: 0.897 >= 0.89",
    ),
    (E.ExpectColumnValuesToBeInSet, dict(column="qty", value_set=[0, 1, 2, 3, 4, 5]), "fail: 100"),
    (
        E.ExpectColumnValuesToBeInSet,
        dict(column="qty", value_set=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
        "same as the case before in Python (0 == 0.0): the suite drops it",
    ),
    (E.ExpectColumnValuesToBeInSet, dict(column="qty", value_set=[0.0, 1.0, 2.0, 3.0, 4.0]), "int column, float set"),
    (E.ExpectColumnValuesToBeInSet, dict(column="qty", value_set=["1", "2", "3"]), "int column, string set"),
    (E.ExpectColumnValuesToBeInSet, dict(column="json_blob", value_set=["[]"]), "fail: many repeats; SUMMARY vs COMPLETE counts"),
    (E.ExpectColumnValuesToNotBeInSet, dict(column="status", value_set=["deleted", "unknown"]), "fail: 2"),
    (E.ExpectColumnValuesToNotBeInSet, dict(column="id", value_set=[7]), "fail: 3 rows"),
    (E.ExpectColumnValuesToNotBeInSet, dict(column="status", value_set=["archived"]), "pass"),
    # between
    (E.ExpectColumnValuesToBeBetween, dict(column="amount", min_value=0, max_value=100), "fail: negatives, outlier; nulls ignored"),
    (E.ExpectColumnValuesToBeBetween, dict(column="amount", min_value=0, max_value=100, mostly=0.9), "pass: 33/36"),
    (E.ExpectColumnValuesToBeBetween, dict(column="amount", min_value=0), "min only"),
    (E.ExpectColumnValuesToBeBetween, dict(column="amount", max_value=0), "max only"),
    (E.ExpectColumnValuesToBeBetween, dict(column="amount", min_value=0, strict_min=True), "strict_min: 0.0 is now unexpected"),
    (E.ExpectColumnValuesToBeBetween, dict(column="qty", min_value=1, max_value=5, strict_max=True), "strict_max on ints"),
    (E.ExpectColumnValuesToBeBetween, dict(column="seq", min_value=1, max_value=10), "Int64; >20 unexpected"),
    (
        E.ExpectColumnValuesToBeBetween,
        dict(column="signup_date", min_value="2023-01-01", max_value="2024-06-30"),
        "datetime64 column, YYYY-MM-DD bounds become dates: raises",
    ),
    (
        E.ExpectColumnValuesToBeBetween,
        dict(column="signup_date", min_value="2023-01-01", max_value="2024-06-30", strict_max=True),
        "datetime64 column, YYYY-MM-DD bounds become dates: raises",
    ),
    (
        E.ExpectColumnValuesToBeBetween,
        dict(column="signup_date", min_value="2023-01-01T00:00:00", max_value="2024-06-29T12:00:00"),
        "datetime64 column, timestamp bounds",
    ),
    (
        E.ExpectColumnValuesToBeBetween,
        dict(column="signup_date", min_value="2022-12-31T00:00:00", max_value="2024-06-30T00:00:00", strict_min=True),
        "datetime64 column, timestamp bounds, strict_min",
    ),
    (
        E.ExpectColumnValuesToBeBetween,
        dict(column="created_at", min_value="2024-01-01 00:00:00", max_value="2024-12-31 23:59:59"),
        "string column, bounds become datetimes: raises",
    ),
    # lengths
    (E.ExpectColumnValueLengthsToBeBetween, dict(column="code", min_value=3, max_value=4), "unicode counts chars"),
    (E.ExpectColumnValueLengthsToBeBetween, dict(column="code", min_value=4), "min only"),
    (E.ExpectColumnValueLengthsToBeBetween, dict(column="code", min_value=2, max_value=4, strict_min=True), "strict_min"),
    (E.ExpectColumnValueLengthsToEqual, dict(column="code", value=4), "fail: X1, ABCDE"),
    (E.ExpectColumnValueLengthsToEqual, dict(column="code", value=4, mostly=0.95), "pass: 38/40"),
    (E.ExpectColumnValueLengthsToEqual, dict(column="email", value=17), "nulls ignored"),
    # dates / json
    (E.ExpectColumnValuesToMatchStrftimeFormat, dict(column="created_at", strftime_format=STRFTIME), "strptime"),
    (E.ExpectColumnValuesToMatchStrftimeFormat, dict(column="created_at", strftime_format="%Y-%m-%d"), "prefix only"),
    (E.ExpectColumnValuesToBeDateutilParseable, dict(column="created_at"), "dateutil"),
    (E.ExpectColumnValuesToBeDateutilParseable, dict(column="code"), "dateutil on codes"),
    (E.ExpectColumnValuesToBeJsonParseable, dict(column="json_blob"), "json.loads"),
    # types
    (E.ExpectColumnValuesToBeOfType, dict(column="id", type_="int64"), ""),
    (E.ExpectColumnValuesToBeOfType, dict(column="id", type_="int"), ""),
    (E.ExpectColumnValuesToBeOfType, dict(column="amount", type_="float64"), ""),
    (E.ExpectColumnValuesToBeOfType, dict(column="amount", type_="float"), ""),
    (E.ExpectColumnValuesToBeOfType, dict(column="seq", type_="Int64"), ""),
    (E.ExpectColumnValuesToBeOfType, dict(column="signup_date", type_="datetime64"), ""),
    (E.ExpectColumnValuesToBeOfType, dict(column="signup_date", type_="datetime64[ns]"), ""),
    (E.ExpectColumnValuesToBeOfType, dict(column="email", type_="str"), ""),
    (E.ExpectColumnValuesToBeOfType, dict(column="email", type_="object"), ""),
    (E.ExpectColumnValuesToBeOfType, dict(column="email", type_="string"), ""),
    (E.ExpectColumnValuesToBeOfType, dict(column="id", type_="float64"), "fail"),
    (E.ExpectColumnValuesToBeInTypeList, dict(column="amount", type_list=["int64", "float64"]), ""),
    (E.ExpectColumnValuesToBeInTypeList, dict(column="id", type_list=["float64", "str"]), "fail"),
    (E.ExpectColumnValuesToBeInTypeList, dict(column="email", type_list=["object", "str"]), ""),
    (E.ExpectColumnValuesToBeInTypeList, dict(column="seq", type_list=["int64", "Int64"]), ""),
    # order
    (E.ExpectColumnValuesToBeIncreasing, dict(column="seq"), "tie 14,14 ok; drop 21->5; null"),
    (E.ExpectColumnValuesToBeIncreasing, dict(column="seq", strictly=True), "tie now unexpected"),
    (E.ExpectColumnValuesToBeIncreasing, dict(column="seq", mostly=0.9), ""),
    (E.ExpectColumnValuesToBeIncreasing, dict(column="id"), "pass: 7,7,7 tie"),
    (E.ExpectColumnValuesToBeIncreasing, dict(column="id", strictly=True), "fail: ties"),
    (E.ExpectColumnValuesToBeIncreasing, dict(column="signup_date"), "datetime with NaT and a drop"),
    (E.ExpectColumnValuesToBeDecreasing, dict(column="countdown"), "pass: tie 10,10"),
    (E.ExpectColumnValuesToBeDecreasing, dict(column="countdown", strictly=True), "fail: tie"),
    (E.ExpectColumnValuesToBeDecreasing, dict(column="seq"), "fail almost everywhere"),
    # all-null column
    (E.ExpectColumnValuesToNotBeNull, dict(column="blank"), "all null"),
    (E.ExpectColumnValuesToBeNull, dict(column="blank"), "all null"),
    (E.ExpectColumnValuesToBeBetween, dict(column="blank", min_value=0, max_value=1), "all null: nothing to test"),
    (E.ExpectColumnValuesToBeInSet, dict(column="blank", value_set=[1.0], mostly=0.5), "all null with mostly"),
    (E.ExpectColumnValuesToBeUnique, dict(column="blank"), "all null"),
    (E.ExpectColumnValuesToBeIncreasing, dict(column="blank"), "all null"),
    # missing column
    (E.ExpectColumnValuesToNotBeNull, dict(column="does_not_exist"), "missing column: exception_info"),
    (E.ExpectColumnValuesToBeInSet, dict(column="does_not_exist", value_set=[1]), "missing column: exception_info"),
]

AGGREGATE = [
    (E.ExpectColumnMeanToBeBetween, dict(column="amount", min_value=0, max_value=100), "fail: outlier dominates mean"),
    (E.ExpectColumnMeanToBeBetween, dict(column="amount", min_value=27000, max_value=28000), "pass"),
    (E.ExpectColumnMeanToBeBetween, dict(column="qty", min_value=4.55, max_value=4.55), "qty mean is 4.55"),
    (E.ExpectColumnMeanToBeBetween, dict(column="qty", min_value=4.55, strict_min=True), "strict_min equal -> fail"),
    (E.ExpectColumnMeanToBeBetween, dict(column="seq", min_value=0, max_value=100), "Int64 with NA"),
    (E.ExpectColumnMeanToBeBetween, dict(column="amount"), "no bounds"),
    (E.ExpectColumnMedianToBeBetween, dict(column="amount", min_value=0, max_value=100), "36 non-null: even count"),
    (E.ExpectColumnMedianToBeBetween, dict(column="qty", min_value=2, max_value=2), "40 values, even"),
    (E.ExpectColumnMedianToBeBetween, dict(column="countdown", min_value=0, max_value=100), "even, middle pair differs"),
    (E.ExpectColumnMedianToBeBetween, dict(column="seq", min_value=0, max_value=100), "39 non-null: odd"),
    (E.ExpectColumnStdevToBeBetween, dict(column="amount", min_value=0, max_value=1), "fail; sample stdev (ddof=1)"),
    (E.ExpectColumnStdevToBeBetween, dict(column="qty", min_value=0, max_value=100), ""),
    (E.ExpectColumnStdevToBeBetween, dict(column="countdown", min_value=0, max_value=100), ""),
    (E.ExpectColumnSumToBeBetween, dict(column="amount", min_value=0, max_value=2000000), ""),
    (E.ExpectColumnSumToBeBetween, dict(column="qty", min_value=182, max_value=182), "int sum"),
    (E.ExpectColumnSumToBeBetween, dict(column="seq", min_value=0, max_value=1000), "Int64 sum, NA skipped"),
    (E.ExpectColumnMinToBeBetween, dict(column="amount", min_value=-10, max_value=0), ""),
    (E.ExpectColumnMinToBeBetween, dict(column="amount", min_value=-5.25, max_value=0, strict_min=True), "strict_min equal -> fail"),
    (E.ExpectColumnMaxToBeBetween, dict(column="amount", min_value=0, max_value=1000), "fail: outlier"),
    (E.ExpectColumnMaxToBeBetween, dict(column="amount", max_value=1000000.0), "pass: inclusive"),
    (E.ExpectColumnMaxToBeBetween, dict(column="amount", max_value=1000000.0, strict_max=True), "fail: strict"),
    (E.ExpectColumnMinToBeBetween, dict(column="signup_date", min_value="2023-01-01", max_value="2024-01-01"), "date bounds vs datetime64 column: raises"),
    (E.ExpectColumnMaxToBeBetween, dict(column="signup_date", min_value="2024-01-01", max_value="2024-06-30"), "date bounds vs datetime64 column: raises"),
    (
        E.ExpectColumnMaxToBeBetween,
        dict(column="signup_date", min_value="2024-01-01", max_value="2024-06-30", strict_max=True),
        "date bounds vs datetime64 column: raises",
    ),
    (
        E.ExpectColumnMinToBeBetween,
        dict(column="signup_date", min_value="2022-12-31T00:00:00", max_value="2024-01-01T00:00:00"),
        "timestamp bounds",
    ),
    (
        E.ExpectColumnMaxToBeBetween,
        dict(column="signup_date", min_value="2024-01-01T00:00:00", max_value="2024-06-30T00:00:00", strict_max=True),
        "timestamp bounds, strict",
    ),
    (E.ExpectColumnMinToBeBetween, dict(column="created_at", min_value="2024-01-01", max_value="2024-12-31"), "string column, date bounds: observed min string becomes a date"),
    (E.ExpectColumnMaxToBeBetween, dict(column="created_at", min_value="2024-01-01", max_value="2024-12-31"), "string column, date bounds: max string 'yesterday' is no date -> raises"),
    (E.ExpectColumnMinToBeBetween, dict(column="email", min_value="a", max_value="z"), "string min of emails"),
    (E.ExpectColumnUniqueValueCountToBeBetween, dict(column="status", min_value=3, max_value=5), "fail: 7 distinct non-null"),
    (E.ExpectColumnUniqueValueCountToBeBetween, dict(column="id", min_value=38, max_value=38), "38 distinct"),
    (E.ExpectColumnUniqueValueCountToBeBetween, dict(column="email", min_value=0, max_value=100), "36: null is not a value"),
    (E.ExpectColumnProportionOfUniqueValuesToBeBetween, dict(column="id", min_value=0.95, max_value=1), "38/40"),
    (E.ExpectColumnProportionOfUniqueValuesToBeBetween, dict(column="email", min_value=0, max_value=1), "36/37: non-null denominator"),
    (E.ExpectColumnProportionOfUniqueValuesToBeBetween, dict(column="id", min_value=0.95, strict_min=True), "strict_min equal"),
    (E.ExpectColumnDistinctValuesToBeInSet, dict(column="status", value_set=["active", "inactive", "pending"]), "fail"),
    (
        E.ExpectColumnDistinctValuesToBeInSet,
        dict(column="qty", value_set=[0, 1, 2, 3, 4, 5, 100, 7]),
        "pass: set may have extras",
    ),
    (E.ExpectColumnDistinctValuesToContainSet, dict(column="status", value_set=["active", "inactive"]), "pass"),
    (E.ExpectColumnDistinctValuesToContainSet, dict(column="status", value_set=["active", "archived"]), "fail"),
    (E.ExpectColumnDistinctValuesToEqualSet, dict(column="status", value_set=["active", "inactive", "pending"]), "fail"),
    (E.ExpectColumnDistinctValuesToEqualSet, dict(column="qty", value_set=[0, 1, 2, 3, 4, 5, 100]), "pass"),
    (E.ExpectColumnDistinctValuesToEqualSet, dict(column="signup_date", value_set=["2023-06-01"]), "set strings parsed to dates: 2023-06-01 matches"),
    (E.ExpectColumnMostCommonValueToBeInSet, dict(column="status", value_set=["active"]), "pass"),
    (E.ExpectColumnMostCommonValueToBeInSet, dict(column="seq", value_set=[5]), "tie 5/14, ties_okay default"),
    (E.ExpectColumnMostCommonValueToBeInSet, dict(column="seq", value_set=[5], ties_okay=True), "tie, ties_okay"),
    (E.ExpectColumnMostCommonValueToBeInSet, dict(column="seq", value_set=[5, 14]), "tie, both in set"),
    (
        E.ExpectColumnQuantileValuesToBeBetween,
        dict(
            column="amount",
            quantile_ranges={
                "quantiles": [0.0, 0.25, 0.5, 0.75, 1.0],
                "value_ranges": [[-10, 0], [10, 13], [20, 24], [30, 36], [1000000, None]],
            },
        ),
        "amount quantiles",
    ),
    (
        E.ExpectColumnQuantileValuesToBeBetween,
        dict(
            column="qty",
            quantile_ranges={
                "quantiles": [0.1, 0.33, 0.5, 0.9, 0.99],
                "value_ranges": [[1, 1], [2, 2], [2, 2], [3, 4], [None, 5]],
            },
        ),
        "qty quantiles",
    ),
    (
        E.ExpectColumnQuantileValuesToBeBetween,
        dict(
            column="countdown",
            quantile_ranges={"quantiles": [0.5], "value_ranges": [[20, 21]]},
        ),
        "median-like quantile on even count",
    ),
    (
        E.ExpectColumnQuantileValuesToBeBetween,
        dict(
            column="seq",
            quantile_ranges={"quantiles": [0.25, 0.75], "value_ranges": [[None, None], [None, None]]},
        ),
        "39 values: (n-1)q = 9.5 and 28.5, nearest rounds half to even",
    ),
    (
        E.ExpectColumnQuantileValuesToBeBetween,
        dict(
            column="countdown",
            quantile_ranges={"quantiles": [0.1, 0.5, 0.9], "value_ranges": [[None, None], [None, None], [None, None]]},
            allow_relative_error="linear",
        ),
        "allow_relative_error = pandas interpolation",
    ),
    (
        E.ExpectColumnQuantileValuesToBeBetween,
        dict(
            column="countdown",
            quantile_ranges={"quantiles": [0.1, 0.5, 0.9], "value_ranges": [[None, None], [None, None], [None, None]]},
            allow_relative_error="lower",
        ),
        "allow_relative_error = pandas interpolation",
    ),
    # all-null column
    (E.ExpectColumnMeanToBeBetween, dict(column="blank", min_value=0, max_value=1), "all null"),
    (E.ExpectColumnMedianToBeBetween, dict(column="blank", min_value=0, max_value=1), "all null"),
    (E.ExpectColumnSumToBeBetween, dict(column="blank", min_value=0, max_value=1), "all null"),
    (E.ExpectColumnMaxToBeBetween, dict(column="blank", min_value=0, max_value=1), "all null"),
    (E.ExpectColumnStdevToBeBetween, dict(column="blank", min_value=0, max_value=1), "all null"),
    (E.ExpectColumnUniqueValueCountToBeBetween, dict(column="blank", min_value=0, max_value=0), "all null"),
    (E.ExpectColumnProportionOfUniqueValuesToBeBetween, dict(column="blank", min_value=0, max_value=1), "all null: 0/0"),
    (E.ExpectColumnDistinctValuesToBeInSet, dict(column="blank", value_set=[1.0]), "all null"),
    (E.ExpectColumnMostCommonValueToBeInSet, dict(column="blank", value_set=[1.0]), "all null"),
    (E.ExpectColumnStdevToBeBetween, dict(column="p2", min_value=0, max_value=100), "Int64 with NA"),
    (E.ExpectColumnMeanToBeBetween, dict(column="does_not_exist", min_value=0, max_value=1), "missing column"),
]

PAIRS_MULTICOLUMN = [
    (E.ExpectColumnPairValuesAToBeGreaterThanB, dict(column_A="a", column_B="b"), "defaults"),
    (E.ExpectColumnPairValuesAToBeGreaterThanB, dict(column_A="a", column_B="b", or_equal=True), "or_equal"),
    (
        E.ExpectColumnPairValuesAToBeGreaterThanB,
        dict(column_A="a", column_B="b", or_equal=True, ignore_row_if="either_value_is_missing"),
        "either missing ignored",
    ),
    (
        E.ExpectColumnPairValuesAToBeGreaterThanB,
        dict(column_A="a", column_B="b", or_equal=True, ignore_row_if="neither"),
        "nothing ignored",
    ),
    (
        E.ExpectColumnPairValuesAToBeGreaterThanB,
        dict(column_A="a", column_B="b", mostly=0.85),
        "mostly",
    ),
    (E.ExpectColumnPairValuesAToBeGreaterThanB, dict(column_A="p1", column_B="p3"), "Int64 pair"),
    (E.ExpectColumnPairValuesToBeEqual, dict(column_A="a", column_B="b"), "mostly unequal"),
    (E.ExpectColumnPairValuesToBeEqual, dict(column_A="p2", column_B="p3"), "Int64, one NA"),
    (
        E.ExpectColumnPairValuesToBeEqual,
        dict(column_A="p2", column_B="p3", ignore_row_if="either_value_is_missing"),
        "Int64, NA ignored",
    ),
    (E.ExpectCompoundColumnsToBeUnique, dict(column_list=["id", "email"]), "rows 6,7 duplicate"),
    (E.ExpectCompoundColumnsToBeUnique, dict(column_list=["id", "code"]), ""),
    (E.ExpectCompoundColumnsToBeUnique, dict(column_list=["a", "b"]), "nulls in key"),
    (E.ExpectCompoundColumnsToBeUnique, dict(column_list=["email", "qty"]), "(null, 1) three times: nulls compare equal"),
    (
        E.ExpectCompoundColumnsToBeUnique,
        dict(column_list=["email", "qty"], ignore_row_if="any_value_is_missing"),
        "rows with a null left out",
    ),
    (
        E.ExpectCompoundColumnsToBeUnique,
        dict(column_list=["a", "b"], ignore_row_if="any_value_is_missing"),
        "nulls in key, ignored",
    ),
    (E.ExpectSelectColumnValuesToBeUniqueWithinRecord, dict(column_list=["p1", "p2", "p3"]), ""),
    (
        E.ExpectSelectColumnValuesToBeUniqueWithinRecord,
        dict(column_list=["p1", "p2", "p3"], ignore_row_if="any_value_is_missing"),
        "",
    ),
    (E.ExpectSelectColumnValuesToBeUniqueWithinRecord, dict(column_list=["a", "b"], mostly=0.9), "floats with NaN"),
    (
        E.ExpectSelectColumnValuesToBeUniqueWithinRecord,
        dict(column_list=["a", "b"], ignore_row_if="never"),
        "(NaN, NaN) row: two nulls are one value",
    ),
    (E.ExpectMulticolumnSumToEqual, dict(column_list=["p1", "p2", "p3"], sum_total=100), "one 110, one NA"),
    (
        E.ExpectMulticolumnSumToEqual,
        dict(column_list=["p1", "p2", "p3"], sum_total=100, ignore_row_if="any_value_is_missing"),
        "NA row ignored",
    ),
    (E.ExpectMulticolumnSumToEqual, dict(column_list=["a", "b"], sum_total=5.0), "floats"),
    (E.ExpectMulticolumnSumToEqual, dict(column_list=["a", "b"], sum_total=35.0), "(35, NaN): skipna=False -> unexpected"),
    (E.ExpectColumnPairValuesAToBeGreaterThanB, dict(column_A="a", column_B="does_not_exist"), "missing column"),
]

EXTRAS = [
    (E.ExpectColumnProportionOfNonNullValuesToBeBetween, dict(column="email", min_value=0.9, max_value=1), ""),
    (E.ExpectColumnPairValuesToBeInSet, dict(column_A="status", column_B="qty", value_pairs_set=[["active", 1], ["active", 2]]), ""),
    (E.ExpectMulticolumnValuesToBeUnique, dict(column_list=["p1", "p2", "p3"]), "cannot be built in 1.24.1 (asks for `column`)"),
    (E.ExpectColumnValuesToMatchJsonSchema, dict(column="json_blob", json_schema={"type": "object"}), ""),
    (E.ExpectColumnValuesToMatchLikePattern, dict(column="code", like_pattern="A%"), "SQL only: no pandas metric provider"),
    (E.ExpectColumnValueZScoresToBeLessThan, dict(column="amount", threshold=3, double_sided=True), ""),
    (E.ExpectColumnValuesToBeBetween, dict(column="amount", min_value=100, max_value=0), "min > max"),
    (E.ExpectColumnValuesToBeInSet, dict(column="status", value_set=[]), "empty set"),
    (E.ExpectColumnValuesToMatchStrftimeFormat, dict(column="signup_date", strftime_format="%Y-%m-%d"), "on datetime64"),
    (E.ExpectColumnValueLengthsToEqual, dict(column="qty", value=1), "lengths of ints"),
    (E.ExpectColumnValuesToBeInSet, dict(column="signup_date", value_set=["2023-06-01", "2023-06-15"]), "datetime column, string set"),
    (E.ExpectColumnValuesToBeUnique, dict(column="signup_date"), "datetime unique"),
    (E.UnexpectedRowsExpectation, dict(unexpected_rows_query="SELECT * FROM {batch} WHERE amount < 0"), "SQL/Spark only: no pandas metric provider"),
]

SUITES = {
    "table": TABLE,
    "column_map": COLUMN_MAP,
    "aggregate": AGGREGATE,
    "pairs_multicolumn": PAIRS_MULTICOLUMN,
    "extras": EXTRAS,
}

# (suite, result_format argument, file suffix)
RUNS = [(s, "COMPLETE", "COMPLETE") for s in SUITES] + [(s, "SUMMARY", "SUMMARY") for s in SUITES]
RUNS += [
    ("column_map", "BASIC", "BASIC"),
    ("column_map", "BOOLEAN_ONLY", "BOOLEAN_ONLY"),
    ("pairs_multicolumn", "BASIC", "BASIC"),
    ("pairs_multicolumn", "BOOLEAN_ONLY", "BOOLEAN_ONLY"),
    (
        "column_map",
        {"result_format": "COMPLETE", "unexpected_index_column_names": ["id"]},
        "COMPLETE.index_id",
    ),
    (
        "pairs_multicolumn",
        {"result_format": "COMPLETE", "unexpected_index_column_names": ["id"]},
        "COMPLETE.index_id",
    ),
    (
        "column_map",
        {"result_format": "SUMMARY", "partial_unexpected_count": 3},
        "SUMMARY.partial3",
    ),
]


# ---------------------------------------------------------------------------
# Normalization
# ---------------------------------------------------------------------------
def strip_tracebacks(obj):
    if isinstance(obj, dict):
        return {
            k: ("<stripped>" if k == "exception_traceback" and isinstance(v, str) else strip_tracebacks(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [strip_tracebacks(v) for v in obj]
    return obj


def normalize_suite(d: dict) -> dict:
    d = dict(d)
    d.pop("id", None)
    d["expectations"] = [{k: v for k, v in e.items() if k != "id"} for e in d["expectations"]]
    return d


def normalize_result(d: dict) -> dict:
    d = strip_tracebacks(d)
    d.pop("id", None)
    meta = d.get("meta", {})
    meta.pop("run_id", None)
    meta.pop("validation_time", None)
    markers = meta.get("batch_markers")
    if isinstance(markers, dict):
        markers.pop("ge_load_time", None)
    for r in d.get("results", []):
        cfg = r.get("expectation_config")
        if isinstance(cfg, dict):
            cfg.pop("id", None)
        info = r.get("exception_info")
        if isinstance(info, dict) and "raised_exception" not in info:
            # Keyed by "MetricConfigurationID(...)" strings; GX fills it from a set, so
            # the key order changes from run to run (even with a fixed hash seed).
            r["exception_info"] = dict(sorted(info.items()))
    return d


def _numpy_scalar(o):
    # GX's to_json_dict() leaves a numpy.bool_ in `success` of
    # expect_column_quantile_values_to_be_between; numpy scalars become Python ones.
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def dump(path: pathlib.Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False, default=_numpy_scalar) + "\n"
    path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------
def main() -> None:
    df = load_frame()

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    ds = ctx.data_sources.add_pandas("pandas")
    asset = ds.add_dataframe_asset("data")
    bdef = asset.add_batch_definition_whole_dataframe("whole")
    batch = bdef.get_batch(batch_parameters={"dataframe": df})

    suites = {}
    rejected = []
    for name, cases in SUITES.items():
        suite = ctx.suites.add(gx.ExpectationSuite(name=name))
        for i, (cls, kwargs, note) in enumerate(cases):
            meta = {"case": i}
            if note:
                meta["note"] = note
            try:
                expectation = cls(**kwargs, meta=meta)
            except Exception as exc:  # GX refused the configuration itself
                rejected.append(
                    {
                        "suite": name,
                        "case": i,
                        "type": cls.expectation_type or cls.__name__,
                        "kwargs": kwargs,
                        "note": note,
                        "exception_class": f"{type(exc).__module__}.{type(exc).__name__}",
                        "exception_message": str(exc),
                    }
                )
                continue
            before = len(suite.expectations)
            suite.add_expectation(expectation)
            if len(suite.expectations) == before:
                # ExpectationSuite is set-like: an expectation equal (ignoring id, meta,
                # notes, rendered_content) to one already in the suite is silently dropped.
                rejected.append(
                    {
                        "suite": name,
                        "case": i,
                        "type": cls.expectation_type or cls.__name__,
                        "kwargs": kwargs,
                        "note": note,
                        "exception_class": None,
                        "exception_message": "silently dropped by ExpectationSuite.add_expectation: "
                        "equal to an expectation already in the suite",
                    }
                )
        suites[name] = suite
        dump(OUT / "suites" / f"{name}.json", normalize_suite(suite.to_json_dict()))

    dump(OUT / "expected" / "rejected_configurations.json", rejected)
    written = [{"file": "expected/rejected_configurations.json", "suite": None, "result_format": None}]
    for name, rf, suffix in RUNS:
        result = batch.validate(suites[name], result_format=rf)
        path = OUT / "expected" / f"{name}.{suffix}.json"
        dump(path, normalize_result(result.to_json_dict()))
        written.append({"file": str(path.relative_to(OUT)), "suite": f"suites/{name}.json", "result_format": rf})

    versions = {
        p: md.version(p)
        for p in ["great_expectations", "pandas", "numpy", "scipy", "python-dateutil", "pydantic", "marshmallow"]
    }
    versions["python"] = platform.python_version()
    manifest = {
        "generator": "scripts/ge-golden.py",
        "versions": versions,
        "pythonhashseed": os.environ.get("PYTHONHASHSEED"),
        "data": "data.csv",
        "read_csv_options": READ_OPTIONS,
        "read_csv_dtypes": DTYPES,
        "post_processing": {"signup_date": "pd.to_datetime(format='%Y-%m-%d').astype('datetime64[ns]')"},
        "resulting_dtypes": {c: str(t) for c, t in df.dtypes.items()},
        "resulting_dtypes_repr": {c: repr(t) for c, t in df.dtypes.items()},
        "rows": len(df),
        "null_counts": {c: int(n) for c, n in df.isna().sum().items()},
        "datasource": {"type": "pandas", "name": "pandas", "asset": "data", "batch_definition": "whole"},
        "suites": [f"suites/{n}.json" for n in SUITES],
        "expected": written,
        "normalized_away": [
            "suite id",
            "expectation id (in suites and in results' expectation_config)",
            "result id",
            "result meta.run_id",
            "result meta.validation_time",
            "result meta.batch_markers.ge_load_time",
            "every exception_traceback string -> '<stripped>'",
            "metric-keyed exception_info dicts: keys sorted (GX's order varies run to run)",
        ],
    }
    dump(OUT / "manifest.json", manifest)


if __name__ == "__main__":
    main()
