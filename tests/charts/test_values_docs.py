"""The values' documentation has one source, values.yaml's `# --` comments: every key has one,
the README's table and the schema's descriptions are generated from them (services/
generators/charts.py, `make charts`) and a test fails when either drifts; the other
generated files (dashboards and rules copies, CRD, keda/scaledobjects.yaml) are current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generators import charts as generate
from tests.charts.kube import CHART

SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def test_every_values_key_is_documented() -> None:
    docs, undocumented = generate.value_docs()
    assert undocumented == []
    assert all(d.description for d in docs)
    assert len(docs) > 150


def test_an_undocumented_key_is_found(tmp_path: Path) -> None:
    f = tmp_path / "values.yaml"
    f.write_text("a:\n  # -- documented\n  b: 1\n  c: 2\nd: {}\n# -- e's doc\ne:\n  f: 1\n")
    docs, undocumented = generate.value_docs(f)
    assert [d.key for d in docs] == ["a.b", "e"]
    assert undocumented == ["a.c", "d"]


def test_the_schema_descriptions_are_the_values_comments() -> None:
    """values.yaml's `# --` comments are the one source of the README's table and of the
    schema's descriptions: each documented key's schema node says exactly its comment, and the
    schema says nothing else."""
    docs, _ = generate.value_docs()
    said = {generate.schema_node(SCHEMA, d.key)[1]: d.description for d in docs}
    for d in docs:
        node, _ = generate.schema_node(SCHEMA, d.key)
        assert node.get("description") == d.description, d.key
    assert generate.schema_with_descriptions(SCHEMA, docs) == SCHEMA
    assert len(said) > 200


def test_a_description_written_in_the_schema_is_drift() -> None:
    docs, _ = generate.value_docs()
    edited = json.loads(json.dumps(SCHEMA))
    edited["properties"]["image"]["properties"]["tag"]["description"] = "Image tag."
    edited["$defs"]["resources"]["description"] = "Container resources."
    assert generate.schema_with_descriptions(edited, docs) == SCHEMA


def test_comments_that_cannot_be_one_description_are_refused() -> None:
    schema = {
        "$defs": {"w": {"type": "object", "properties": {"on": {"type": "boolean"}}}},
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/w"}, "b": {"$ref": "#/$defs/w"}},
    }
    same = [generate.ValueDoc("a.on", "On.", True), generate.ValueDoc("b.on", "On.", True)]
    out = generate.schema_with_descriptions(schema, same)
    assert out["$defs"]["w"]["properties"]["on"] == {"type": "boolean", "description": "On."}
    differ = [same[0], generate.ValueDoc("b.on", "Off.", True)]
    with pytest.raises(generate.SchemaDrift, match=r"a\.on and b\.on share"):
        generate.schema_with_descriptions(schema, differ)
    with pytest.raises(generate.SchemaDrift, match=r"c: documented in values\.yaml"):
        generate.schema_with_descriptions(schema, [generate.ValueDoc("c", "C.", 1)])


def test_generated_files_are_current() -> None:
    assert generate.stale() == [], "run `make charts`"


def test_the_chart_readme_lists_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    docs, _ = generate.value_docs()
    for d in docs:
        assert f"| `{d.key}` |" in readme
