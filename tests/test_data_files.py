"""Every tunable YAML data file is checked at load: a bad edit names the file and the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines import businesses, names, scope, text, violations
from pipelines.datafiles import DataFileError
from pipelines.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "pipelines" / "data"

# file name → (bundled file, loader of a file at a given path)
LOADERS: dict[str, tuple[Path, Callable[[Path], object]]] = {
    "business_names.yaml": (DATA / "business_names.yaml", businesses.load_data),
    "boilerplate.yaml": (DATA / "boilerplate.yaml", text.load_rules),
    "regions.yaml": (
        DATA / "regions.yaml",
        lambda p: names.load_vocab(p, DATA / "name_parts.yaml"),
    ),
    "name_parts.yaml": (
        DATA / "name_parts.yaml",
        lambda p: names.load_vocab(DATA / "regions.yaml", p),
    ),
    "scope_rules.yaml": (DATA / "scope_rules.yaml", scope.load_rules),
    "violations.yaml": (DATA / "violations.yaml", violations.load_violations),
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_bundled_file_loads(name: str) -> None:
    path, load = LOADERS[name]
    assert load(path)


def _edit(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting the dotted `key` (list indexes as digits) to `value`; DELETE drops it."""

    def apply(data: dict[str, Any]) -> None:
        *parents, last = key.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return apply


DELETE = object()

# (file, mutation of the parsed file, expected message after "<path>: ")
BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("business_names.yaml", _edit("cities", DELETE), "cities: missing"),
    (
        "business_names.yaml",
        _edit("uscc_labels", "税号"),
        "uscc_labels: expected a list of strings, got '税号'",
    ),
    (
        "business_names.yaml",
        _edit("stop_words.3", None),
        "stop_words[3]: expected a non-empty string, got None",
    ),
    ("business_names.yaml", _edit("bank_words", []), "bank_words: is empty"),
    ("boilerplate.yaml", _edit("spam_markers", DELETE), "spam_markers: missing"),
    ("boilerplate.yaml", _edit("title_separators", None), "title_separators: expected a list"),
    (
        "boilerplate.yaml",
        _edit("content_selectors.2", "div..article"),
        "content_selectors[2]: 'div..article' is not a CSS selector",
    ),
    ("boilerplate.yaml", _edit("cut_markers.0", 12), "cut_markers[0]: expected a non-empty"),
    ("regions.yaml", _edit("provinces", DELETE), "provinces: missing"),
    (
        "regions.yaml",
        _edit("districts.南山", ["深圳"]),
        "districts.南山: expected a non-empty string, got ['深圳']",
    ),
    ("regions.yaml", _edit("area_codes.0755", None), "area_codes.0755: expected a non-empty"),
    ("regions.yaml", _edit("area_codes", {}), "area_codes: expected a mapping, got {}"),
    ("name_parts.yaml", _edit("industries", "咨询"), "industries: expected a list of strings"),
    ("name_parts.yaml", _edit("forms", DELETE), "forms: missing"),
    (
        "scope_rules.yaml",
        _edit("categories.debt_relief.covers.0.entry", DELETE),
        "categories.debt_relief.covers[0].entry: expected a non-empty string, got None",
    ),
    (
        "scope_rules.yaml",
        _edit("categories.credit_repair.forbidden", "yes please"),
        "categories.credit_repair.forbidden: expected true or false, got 'yes please'",
    ),
    (
        "scope_rules.yaml",
        _edit("categories.refund_agency.service", ""),
        "categories.refund_agency.service: expected a non-empty string, got ''",
    ),
    ("scope_rules.yaml", _edit("restricted.征信", None), "restricted.征信: expected a non-empty"),
    ("scope_rules.yaml", _edit("categories", DELETE), "categories: missing"),
    (
        "scope_rules.yaml",
        _edit("categories.debt_relief.covers.1.negated_by", "债务重组"),
        "categories.debt_relief.covers[1].negated_by: expected a list of strings",
    ),
    ("violations.yaml", _edit("inactive", DELETE), "inactive: missing"),
    (
        "violations.yaml",
        _edit("out_of_scope.title", DELETE),
        "out_of_scope.title: expected a non-empty string, got None",
    ),
    (
        "violations.yaml",
        _edit("credit_repair.facts", "{company}宣传{words}。"),
        "credit_repair.facts: unknown field {company} (known: {docs}, {name}, {scope}, "
        "{status}, {words})",
    ),
    (
        "violations.yaml",
        _edit("not_registered.facts", "页面以“{name”名义宣传"),
        "not_registered.facts: bad {field} syntax",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "message"), BROKEN)
def test_broken_file_names_file_and_key(
    name: str, mutate: Callable[[dict[str, Any]], None], message: str, tmp_path: Path
) -> None:
    source, load = LOADERS[name]
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    mutate(data)
    broken = tmp_path / name
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DataFileError) as exc:
        load(broken)
    assert str(exc.value).startswith(f"{broken}: {message}"), str(exc.value)
    assert "\n" not in str(exc.value)


# (file, (old text, new text) edited as a person would, expected part of the message)
BROKEN_TEXT = [
    ("regions.yaml", ('"0755": 深圳', "0755: 深圳"), "area_codes.493: an area code must be"),
    ("business_names.yaml", ("cities: [", "cities: [[ "), "not valid YAML at line"),
    (
        "scope_rules.yaml",
        ("forbidden: true", "forbidden: ture"),
        "categories.credit_repair.forbidden: expected true or false, got 'ture'",
    ),
]


@pytest.mark.parametrize(("name", "edit", "message"), BROKEN_TEXT)
def test_hand_edited_file(name: str, edit: tuple[str, str], message: str, tmp_path: Path) -> None:
    source, load = LOADERS[name]
    original = source.read_text(encoding="utf-8")
    assert edit[0] in original
    edited = tmp_path / name
    edited.write_text(original.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(DataFileError, match="^" + str(edited).replace(".", r"\.")) as exc:
        load(edited)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- just\n- a list\n", "expected a mapping of keys at the top level"),
        ("", "expected a mapping of keys at the top level"),
        ("cities: [深圳\n", "not valid YAML at line 2"),
    ],
)
@pytest.mark.parametrize("name", sorted(LOADERS))
def test_not_a_mapping_or_not_yaml(name: str, content: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFileError) as exc:
        LOADERS[name][1](path)
    assert str(exc.value) == f"{path}: {message}"


def test_error_is_a_value_error_and_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "boilerplate.yaml"
    path.write_text("drop_tags: script\n", encoding="utf-8")
    with pytest.raises(ValueError) as exc:
        text.load_rules(path)
    assert isinstance(exc.value, ConfigError) and exc.value.hint
