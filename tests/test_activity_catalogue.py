"""The worker registers exactly the activities the workflows call: each name in ``workflows.calls`` once,
under the same name, taking the input and returning the result the catalogue declares. A name written in
one place and not the other fails here, not in a running order."""

import ast
from collections import Counter
from pathlib import Path
from typing import Any

from temporalio import activity

import workflows.calls as calls
from activities.registry import build_activities
from models.policy import OrderPolicy
from o2c.platform.config import Settings
from tests.support import Database, RecordingSendGrid


def registered(db: Database) -> dict[str, Any]:
    built = build_activities(Settings(database_url=db.url), db.engine, OrderPolicy(), sendgrid=RecordingSendGrid())
    definitions = [activity._Definition.must_from_callable(fn) for fn in built]
    names = Counter(d.name for d in definitions)
    assert not [n for n, times in names.items() if times > 1], f"registered twice: {names}"
    return {d.name: d for d in definitions}


def declared_inputs() -> dict[str, str]:
    """Each catalogue entry's input type, as written: ``X = Activity[Input, Result](...)``."""
    inputs = {}
    for node in ast.parse(Path(calls.__file__).read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Subscript) and isinstance(func.value, ast.Name) and func.value.id == "Activity":
                assert isinstance(func.slice, ast.Tuple) and isinstance(func.slice.elts[0], ast.Name)
                assert isinstance(node.targets[0], ast.Name)
                inputs[node.targets[0].id] = func.slice.elts[0].id
    return inputs


def test_every_catalogued_activity_is_registered_and_every_registered_one_catalogued(sqlite_db: Database) -> None:
    worker = registered(sqlite_db)
    catalogued = Counter(entry.name for entry in calls.CATALOGUE)
    assert not [n for n, times in catalogued.items() if times > 1], f"catalogued twice: {catalogued}"
    assert sorted(catalogued) == sorted(worker)


def test_each_activity_takes_and_returns_what_the_catalogue_declares(sqlite_db: Database) -> None:
    worker = registered(sqlite_db)
    inputs = declared_inputs()
    assert len(inputs) == len(calls.CATALOGUE), "every entry is read from the source"
    for variable, input_name in inputs.items():
        entry = getattr(calls, variable)
        definition = worker[entry.name]
        assert definition.arg_types == [getattr(calls, input_name)], entry.name
        assert definition.ret_type is (type(None) if entry.result is None else entry.result), entry.name
