"""Reads checkov's JSON report of template.yaml and fails (exit 1) on a failed check, a
parsing error, a scan that found no resource, or a skip without a reason: every finding
is fixed in the template or skipped there with its reason.

Usage: python3 .ci/checkov-gate.py REPORT.json
"""

import json
import sys

NO_REASON = "No comment provided"


def problems_of(report):
    summary, results = report["summary"], report["results"]
    print(
        f"checkov {summary['checkov_version']}: {summary['passed']} passed, "
        f"{summary['failed']} failed, {summary['skipped']} skipped"
    )
    if summary["parsing_errors"] or not summary["resource_count"]:
        yield (
            f"{summary['parsing_errors']} parsing errors, "
            f"{summary['resource_count']} resources scanned"
        )
    for check in results.get("failed_checks", []):
        yield f"FAILED {check['check_id']} {check['resource']}: {check['check_name']}"
    for check in results.get("skipped_checks", []):
        if check["check_result"].get("suppress_comment", NO_REASON) == NO_REASON:
            yield f"SKIPPED WITHOUT A REASON {check['check_id']} {check['resource']}"


def main(path):
    with open(path, encoding="utf-8") as file:
        report = json.load(file)
    reports = report if isinstance(report, list) else [report]
    problems = [p for r in reports for p in problems_of(r)]
    print("\n".join(problems) or "checkov: every finding fixed or skipped with its reason")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
