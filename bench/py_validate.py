#!/usr/bin/env python3
"""The usual hand-rolled alternative: PyYAML + python-jsonschema against topo's schema.

It checks the schema layer only (no semantic rules, no positions): a lower bound on what a
homegrown validator costs. Usage: py_validate.py SCHEMA FILE
"""
import json
import sys

import jsonschema
import yaml

schema = json.load(open(sys.argv[1]))
doc = yaml.load(open(sys.argv[2]), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
sys.exit(1 if errors else 0)
