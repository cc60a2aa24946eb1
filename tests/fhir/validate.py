#!/usr/bin/env python3
"""Validates FHIR R4 (4.0.1) JSON resources with an independent implementation.

Usage: validate.py FILE_OR_DIR...   (every *.json file; exit 1 when any is invalid)

Needs PyPI `fhir.resources==6.4.0` (its top-level models are R4 4.0.1; 6.5+ are R4B, 7+ R5)
with pydantic 1.x:  pip install "fhir.resources==6.4.0" "pydantic[email]>=1.10,<2"
"""
import json
import pathlib
import sys

import fhir.resources
from fhir.resources import construct_fhir_element

if fhir.resources.__fhir_version__ != "4.0.1":
    sys.exit(f"fhir.resources ships FHIR {fhir.resources.__fhir_version__}, not R4 4.0.1")


def files(args):
    for arg in args:
        p = pathlib.Path(arg)
        yield from sorted(p.glob("*.json")) if p.is_dir() else [p]


failed = 0
checked = 0
for path in files(sys.argv[1:]):
    data = json.loads(path.read_text(encoding="utf-8"))
    checked += 1
    try:
        construct_fhir_element(data["resourceType"], data)
        print(f"valid   {path.name} ({data['resourceType']})")
    except Exception as e:  # pydantic.ValidationError, KeyError, ...
        failed += 1
        print(f"INVALID {path.name}: {e}")
print(f"{checked} checked, {failed} invalid")
sys.exit(1 if failed or not checked else 0)
