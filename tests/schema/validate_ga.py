"""Validate GA server events against openai-python's models; run by the SDK virtualenv.

Reads a JSON array of server events on stdin and writes a JSON array of
problems on stdout. Each event must validate as the model its `type` names
(one member of `RealtimeServerEvent`), and no object anywhere in it may carry
a field that model does not declare: openai's models accept extra fields
silently, so they are looked for here.
"""

from __future__ import annotations

import json
import sys
import typing
from typing import Any

from openai.types.realtime import realtime_server_event
from pydantic import BaseModel, ValidationError

# Fields the public API reference shows in session echoes that these models do not
# declare: the service sends them, and a client validating with the models accepts them.
DOCUMENTED_EXTRAS = {
    "RealtimeSessionCreateRequest": {"id", "object", "expires_at"},
    "RealtimeTranscriptionSessionCreateRequest": {"id", "object", "expires_at"},
}


def _members() -> dict[str, type[BaseModel]]:
    union = typing.get_args(realtime_server_event.RealtimeServerEvent)[0]
    models: dict[str, type[BaseModel]] = {}
    for model in typing.get_args(union):
        for name in typing.get_args(model.model_fields["type"].annotation):
            models[name] = model
    return models


def _extras(value: Any, path: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, BaseModel):
        extra = set(value.model_extra or ()) - DOCUMENTED_EXTRAS.get(type(value).__name__, set())
        if extra:
            found.append(f"{path}: fields not in {type(value).__name__}: {sorted(extra)}")
        for name in type(value).model_fields:
            found += _extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _extras(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += _extras(item, f"{path}.{key}")
    return found


def main() -> None:
    models = _members()
    problems: list[dict[str, Any]] = []
    for index, event in enumerate(json.load(sys.stdin)):
        kind = event.get("type")
        model = models.get(kind)
        if model is None:
            problems.append({"index": index, "type": kind, "problem": "no model for this type"})
            continue
        try:
            parsed = model.model_validate(event)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"])
                problems.append(
                    {"index": index, "type": kind, "problem": f"{where}: {error['msg']}"}
                )
            continue
        for extra in _extras(parsed, "event"):
            problems.append({"index": index, "type": kind, "problem": extra})
    json.dump({"models": sorted(models), "problems": problems}, sys.stdout)


if __name__ == "__main__":
    main()
