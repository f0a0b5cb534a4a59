#!/usr/bin/env bash
# Lints template.yaml with cfn-lint and with SAM's own validation (which runs
# cfn-lint again on the SAM-transformed template), then scans it with checkov.
# cfn-lint and SAM must report nothing; checkov must find nothing that is not
# fixed or skipped in the template with its reason (.ci/checkov-gate.py).
#
# Usage: .ci/lint-template.sh VENV CHECKOV_VENV
#   VENV is a Python virtual environment with cfn-lint and aws-sam-cli installed
#   ($VENV/bin/cfn-lint, $VENV/bin/sam); CHECKOV_VENV one with checkov (it pins a
#   boto3 SAM CLI cannot share). No AWS credentials or network are needed.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 VENV CHECKOV_VENV (virtualenvs holding cfn-lint and aws-sam-cli; checkov)" >&2
    exit 64
fi
venv=$1
cfn_lint=$venv/bin/cfn-lint
sam=$venv/bin/sam
checkov=$2/bin/checkov
for tool in "$cfn_lint" "$sam" "$checkov"; do
    if [[ ! -x $tool ]]; then
        echo "error: $tool not found or not executable" >&2
        exit 66
    fi
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# sam validate only needs a Region name to resolve pseudo parameters; it makes
# no AWS call. Keep the user's Region if one is set.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export SAM_CLI_TELEMETRY=0

echo "== cfn-lint $("$cfn_lint" --version)"
"$cfn_lint" -- template.yaml

echo "== sam validate --lint ($("$sam" --version))"
# samconfig.toml enables local expansion of AWS::LanguageExtensions (Fn::ForEach)
# and is read from the repository root.
"$sam" validate --lint --template template.yaml

echo "== checkov"
# --skip-download: no call to the vendor's platform (there is no network here).
# A parsing error fails the scan instead of passing it.
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
CKV_PARSE_ERROR_FAIL=true "$checkov" -f template.yaml --framework cloudformation \
    --skip-download --output json > "$report" || status=$?
"$2/bin/python" .ci/checkov-gate.py "$report" || status=1
if [[ $status -ne 0 ]]; then
    echo "checkov: a finding is neither fixed nor skipped with its reason" >&2
    exit 1
fi

echo "template.yaml: no errors, no warnings, no unreasoned checkov finding"
