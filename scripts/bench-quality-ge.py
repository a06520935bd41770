"""Great Expectations 1.x with pandas on the brief's two suites, end to end from CSV, for
scripts/bench-quality (issue 4's 20x target). Usage:

    ../venv-ge/bin/python scripts/bench-quality-ge.py DATA_DIR SUITES_DIR

Reads customers.csv and transactions.csv from DATA_DIR with pandas (numeric columns as numbers,
unparseable ones coerced to NaN as a lenient reader would; dates kept as ISO text, which the
suites' text bounds compare correctly, where datetime64 columns make GE raise on every date
expectation and skip its work; lines with the wrong field count skipped), validates customers_suite.json and transactions_suite.json from
SUITES_DIR (GE 1.x JSON, loaded as they are) in an ephemeral GX context, and prints one line
per step with its wall seconds and each suite's success and statistics.
"""

import json
import sys
import time

import great_expectations as gx
import pandas as pd
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

DATA, SUITES = sys.argv[1], sys.argv[2]

TABLES = {
    "customers": {
        "suite": "customers_suite.json",
        "numeric": ["customer_id"],
    },
    "transactions": {
        "suite": "transactions_suite.json",
        "numeric": ["transaction_id", "customer_id", "product_id", "transaction_amount"],
    },
}


def read(name, spec):
    df = pd.read_csv(f"{DATA}/{name}.csv", dtype=str, on_bad_lines="skip", engine="c")
    for column in spec["numeric"]:
        df[column] = pd.to_numeric(df[column], errors="coerce")
    return df


def main():
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    ds = ctx.data_sources.add_pandas("pandas")
    total = time.perf_counter()
    for name, spec in TABLES.items():
        started = time.perf_counter()
        df = read(name, spec)
        read_s = time.perf_counter() - started
        raw = json.load(open(f"{SUITES}/{spec['suite']}"))
        suite = ctx.suites.add(gx.ExpectationSuite(name=raw["name"]))
        for e in raw["expectations"]:
            suite.add_expectation_configuration(
                ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"])
            )
        asset = ds.add_dataframe_asset(name)
        batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
            batch_parameters={"dataframe": df}
        )
        started = time.perf_counter()
        result = batch.validate(suite, result_format="SUMMARY")
        validate_s = time.perf_counter() - started
        stats = result.statistics
        raised = sum(
            1 for r in result.results if r.exception_info.get("raised_exception", False)
        )
        print(
            f"{name}: {len(df)} rows, read {read_s:.2f}s, validate {validate_s:.2f}s, "
            f"success {result.success}, {stats['successful_expectations']}/"
            f"{stats['evaluated_expectations']} expectations passed, {raised} raised"
        )
        del df, batch
    print(f"total {time.perf_counter() - total:.2f}s")


main()
