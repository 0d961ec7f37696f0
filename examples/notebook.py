"""Clean a list of numbers in pandas, then import it: the notebook of the README's "From Python".

Run it cell by cell (``# %%`` marks the cells for Jupyter, VS Code and jupytext), or whole as
a script. Against the local sandbox, as written:

    bulk-import sandbox --port 8080 &
    export CARTESIA_BASE_URL=http://127.0.0.1:8080 CARTESIA_API_KEY=sk_car_sandbox
    python examples/notebook.py

``make test`` runs it so (tests/test_library_docs.py) and checks it with ``mypy --strict``.
"""

# %%
import pandas as pd

import bulk_import

# A sheet as pandas reads it: the numbers a float column (NaN where one is missing), and the
# labels text ("NA" is a name here, not a missing value).
sheet = pd.DataFrame(
    {
        "Phone Number": [14155550101.0, 14155550102.0, None, 4155550104.0, 14155550101.0, 123.0],
        "Friendly Name": ["Front desk", "NA", "no number", "=Night line", "Front desk", "typo"],
    }
)

# %% Check it first: no network, no API key. Which rows would go, and why not the others.
checked = bulk_import.validate(sheet, provider_id="prov_sandbox")
print(checked.summary["counts"])
print(checked.report.loc[~checked.report["status"].eq("valid"), ["row", "status", "error"]])

# %% Import. report= keeps the report and its journal on disk, as the CLI does: after a crash
# or Ctrl-C, the same call with resume=True sends only what is left.
result = bulk_import.run(
    sheet,
    provider_id="prov_sandbox",
    agent_id="agent_sandbox",
    report="sheet.report.csv",
)
print(result)

# %% Numbers imported without their agent (the webhook failed): assign it, and keep the report.
if result.summary["counts"].get("webhook_failed"):
    result = bulk_import.retry_patch(result.report, report="sheet.report.csv")
    print(result)

# %% Later, or every night: is the account still what the sheet says? (never deletes)
drift = bulk_import.reconcile(sheet, provider_id="prov_sandbox", agent_id="agent_sandbox")
print(drift.report.loc[drift.report["status"].isin(["missing", "agent_mismatch"])])
