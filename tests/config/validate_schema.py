#!/usr/bin/env python3
"""Validates ferry config files against config/ferry.schema.json with a real JSON Schema
validator (Debian's python3-jsonschema), the way an editor would.

  validate_schema.py SCHEMA --valid FILE...     every FILE must be valid
  validate_schema.py SCHEMA --invalid FILE...   every FILE must be rejected

YAML is read as YAML 1.2 (the core schema editors and ferry use): only true/false are booleans,
so `off`, `on`, `yes` and `no` stay strings. Files in config/ must also name the schema in their
first line with a relative path that leads to it.
"""
import json
import os
import re
import sys

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    pass


Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def main():
    schema_path, mode, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(schema_path) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    failed = 0
    for path in files:
        with open(path) as f:
            text = f.read()
        # JSON keys are strings (error_pages: {503: ...}): round-trip through JSON like an editor.
        doc = json.loads(json.dumps(yaml.load(text, Loader=Yaml12Loader)))
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        if mode == "--valid":
            for e in errors:
                print(f"{path}: {'.'.join(map(str, e.path))}: {e.message}")
            failed += bool(errors)
            first = text.splitlines()[0] if text else ""
            m = MODELINE.match(first)
            if "/config/" in os.path.abspath(path) and "/tests/" not in os.path.abspath(path):
                target = m and os.path.normpath(os.path.join(os.path.dirname(path), m.group(1)))
                if not m or os.path.realpath(target) != os.path.realpath(schema_path):
                    print(f"{path}:1: the first line must be '# yaml-language-server: "
                          f"$schema=RELATIVE/PATH/ferry.schema.json' leading to the schema")
                    failed += 1
        else:
            if not errors:
                print(f"{path}: the schema accepts it, but it must be rejected")
                failed += 1
    print(f"{len(files)} files checked, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
