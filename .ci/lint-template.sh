#!/usr/bin/env bash
# Lints template.yaml with cfn-lint and with SAM's own validation (which runs
# cfn-lint again on the SAM-transformed template). Both must report nothing.
#
# Usage: .ci/lint-template.sh VENV
#   VENV is a Python virtual environment with cfn-lint and aws-sam-cli installed
#   ($VENV/bin/cfn-lint, $VENV/bin/sam). No AWS credentials are needed.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 VENV (a virtualenv holding cfn-lint and aws-sam-cli)" >&2
    exit 64
fi
venv=$1
cfn_lint=$venv/bin/cfn-lint
sam=$venv/bin/sam
for tool in "$cfn_lint" "$sam"; do
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

echo "template.yaml: no errors, no warnings"
