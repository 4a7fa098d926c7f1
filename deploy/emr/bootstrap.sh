#!/usr/bin/env bash
# EMR bootstrap action: install the project wheel (and with it Splink and the pinned stack) on every node.
#   --bootstrap-actions Path=s3://ebuy-artifacts/customer-identity/bootstrap.sh,Args=[s3://ebuy-artifacts/customer-identity/ebuy_customer_identity-0.1.0-py3-none-any.whl]
set -euo pipefail
WHEEL_URI="${1:?usage: bootstrap.sh s3://.../ebuy_customer_identity-<version>-py3-none-any.whl}"
aws s3 cp "$WHEEL_URI" /tmp/
sudo python3 -m pip install --quiet "/tmp/$(basename "$WHEEL_URI")"
