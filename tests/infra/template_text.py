"""Read CloudFormation intrinsic values as text, so tests can assert on ARNs without naming hashed logical ids."""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str:
    """Fn::Join / Ref / GetAtt / Fn::Sub flattened to one string: Ref X -> <X>, GetAtt X.Arn -> <X.Arn>."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Fn::Join":
            sep, parts = arg
            return str(sep).join(text(p) for p in parts)
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{'.'.join(arg)}>"
        if fn == "Fn::Sub":
            return str(arg if isinstance(arg, str) else arg[0])
    raise AssertionError(f"unexpected CloudFormation value {value!r}")


def as_list(value: Any) -> list[Any]:
    """IAM Action/Resource may be one value or a list."""
    return value if isinstance(value, list) else [value]


def policy_statements(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to one role."""
    statements = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        roles = resource["Properties"].get("Roles", [])
        if {"Ref": role_logical_id} in roles:
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return statements


def logical_id(template: dict[str, Any], kind: str, **props: Any) -> str:
    """The one resource of `kind` whose properties include `props` (found, never hard-coded)."""
    found = [k for k, r in template["Resources"].items()
             if r["Type"] == kind and all(r.get("Properties", {}).get(p) == v for p, v in props.items())]
    assert len(found) == 1, f"expected one {kind} with {props}, found {found}"
    return found[0]
