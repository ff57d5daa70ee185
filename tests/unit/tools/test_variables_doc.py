"""docs/variables.md and known_variables.py are generated from the roles' argument specs."""

from __future__ import annotations

import variables_doc
import yaml

SPEC = {
    "demo": {
        "main": {
            "short_description": "Demo role",
            "options": {
                "calico_demo_list": {
                    "type": "list",
                    "elements": "dict",
                    "default": [],
                    "description": ["Items, see C(calico_demo_flag)."],
                    "options": {"name": {"type": "str", "required": True, "description": "N."}},
                },
                "calico_demo_flag": {
                    "type": "bool",
                    "default": False,
                    "choices": [True, False],
                    "description": "A | flag.",
                },
                "calico_demo_secret": {"type": "str", "default": "", "description": "S."},
            },
        },
        "other": {"short_description": "Other entry", "options": {"calico_demo_flag": {}}},
    }
}


def test_generated_files_are_current() -> None:
    assert variables_doc.main(["--check"]) == 0, "run `make docs` and commit the result"


def test_doc_has_a_row_per_option_and_nested_option() -> None:
    doc = variables_doc.render_doc(SPEC)
    assert "| `calico_demo_list` | list of dict | `[]` | Items, see `calico_demo_flag`. |" in doc
    assert "| `calico_demo_list[].name` | str | (required) | N. |" in doc


def test_doc_escapes_pipes_and_shows_choices_and_typed_defaults() -> None:
    doc = variables_doc.render_doc(SPEC)
    assert "| `calico_demo_flag` | bool | `false` | A \\| flag. One of: `True`, `False`. |" in doc
    assert '| `calico_demo_secret` | str | `""` | S. |' in doc


def test_later_entry_points_do_not_repeat_documented_options() -> None:
    doc = variables_doc.render_doc(SPEC)
    assert doc.count("`calico_demo_flag` |") == 1
    assert "## demo (tasks_from: other)" in doc


def test_known_variables_are_every_top_level_option() -> None:
    namespace: dict[str, object] = {}
    exec(variables_doc.render_known(SPEC), namespace)
    assert namespace["KNOWN_VARIABLES"] == {
        "calico_demo_list",
        "calico_demo_flag",
        "calico_demo_secret",
    }


def test_every_role_has_argument_specs() -> None:
    roles = sorted(p.name for p in (variables_doc.ROOT / "roles").iterdir() if p.is_dir())
    specs = variables_doc.load_specs()
    assert sorted(specs) == roles
    for role in roles:
        data = yaml.safe_load(
            (variables_doc.ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text()
        )
        assert data["argument_specs"]["main"]["options"], role
