"""CI check: deleting the table's conditioned rows and recording both releases' reports gives them back.

usage: python .ci/record_roundtrip.py TABLE_DIR REPORT.json REPORT.json
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from autograd_conformance.expectations import Table
from autograd_conformance.merge import merge
from autograd_conformance.report import load
from autograd_conformance.tablefile import load_docs, write_docs


def main(table_dir: str, *report_paths: str) -> int:
    reports = [load(Path(p)) for p in report_paths]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "expectations"
        shutil.copytree(table_dir, work)
        docs = load_docs(work)
        removed = []
        for name, doc in docs.items():
            for key, row in doc.items():
                if any("torch" in block for block in row.get("when", [])):
                    removed.append(key)
                    row["when"] = [b for b in row["when"] if "torch" not in b]
                    if not row["when"]:
                        del row["when"]
        write_docs(work, docs, set(docs))
        merged, summary = merge(work, reports)
        write_docs(work, merged, summary.files)
        rebuilt = sorted(summary.changed_rows + summary.added_rows)
        print(f"removed the version-conditioned blocks of {len(removed)} rows; record rebuilt {len(rebuilt)} rows")
        if sorted(removed) != rebuilt:
            print(f"FAIL: removed {sorted(removed)} but rebuilt {rebuilt}")
            return 1
        for report in reports:
            version = report.run_info.torch_version
            original, again = Table.load(Path(table_dir), version), Table.load(work, version)
            for probe in report.probes:
                device = probe.table_device
                a, b = original.resolve(probe.id, device, version), again.resolve(probe.id, device, version)
                if (a and a.facts) != (b and b.facts):
                    print(f"FAIL: {probe.id} resolves differently on torch {version}")
                    return 1
        print("OK: the recorded rows are equivalent to the committed ones for every probe of every run")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
