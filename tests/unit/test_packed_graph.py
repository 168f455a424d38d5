"""The artifact runs the registered graph fed two matrices (`packed_graph`): it must answer
exactly as the registered graph does when fed one input per feature, as stock runtimes
feed it."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from onnx import TensorProto, helper

from components.base.contract.artifact import ModelArtifact
from components.base.contract.layout import FeatureLayout, Lookup
from components.base.contract.names import OUTPUT_NAME, UNSEEN_OUTPUT
from components.base.contract.packed_graph import (
    CODES_INPUT,
    NUMBERS_INPUT,
    TEXT_INPUT,
    coded_graph,
    packed_graph,
)
from tests.model_fixtures import exported_raw_model

PACKED = (TEXT_INPUT, NUMBERS_INPUT)


def _session(model) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return exported_raw_model(tmp_path_factory.mktemp("raw"))


def _rows(artifact) -> pd.DataFrame:
    """The reference rows with an unseen and a missing category and missing numbers."""
    frame = pd.DataFrame(artifact.metadata.reference_sample)
    frame.loc[3, "carrier"] = "ZZ"
    frame.loc[5, "dest"] = None
    frame.loc[7, artifact.layout.numeric] = np.nan
    return frame


def test_the_artifact_answers_as_the_registered_graph_fed_by_feature(artifact):
    frame = _rows(artifact)
    registered = onnx.load(artifact.directory / artifact.metadata.model_file)
    feed = artifact.layout.feed(*artifact.layout.arrays(frame))
    expected = _session(registered).run([OUTPUT_NAME, UNSEEN_OUTPUT], feed)

    probability, unseen = artifact.predict_arrays(*artifact.layout.arrays(frame))

    np.testing.assert_array_equal(probability, expected[0])
    np.testing.assert_array_equal(unseen, expected[1])
    assert unseen[3] == 1 and unseen[5] == 4  # carrier's bit, dest's bit
    assert np.isfinite(probability).all()
    one = artifact.predict_arrays(*artifact.layout.arrays(frame.iloc[[7]]))
    np.testing.assert_array_equal(one[0], expected[0][[7]])


def test_the_export_s_numeric_stacking_becomes_the_numbers_input(artifact):
    layout = artifact.layout
    packed = packed_graph(onnx.load(artifact.directory / artifact.metadata.model_file), layout)
    onnx.checker.check_model(packed, full_check=True)

    assert [i.name for i in packed.graph.input] == [TEXT_INPUT, NUMBERS_INPUT]
    reading = {name for node in packed.graph.node for name in node.input}
    assert not reading & set(layout.numeric)  # no column gathered, no stacking left
    (identity,) = (n for n in packed.graph.node if n.op_type == "Identity")
    assert list(identity.input) == [NUMBERS_INPUT]
    gathered = [
        n.output[0] for n in packed.graph.node if n.op_type == "Gather" and n.input[0] in PACKED
    ]
    assert gathered == layout.categorical


def test_a_numeric_input_read_past_the_stacking_is_gathered_as_well(artifact):
    """Another reader of a numeric input (here a graph output of its own) keeps it."""
    layout = artifact.layout
    registered = onnx.load(artifact.directory / artifact.metadata.model_file)
    name = layout.numeric[2]
    registered.graph.node.append(helper.make_node("Identity", [name], ["echo"]))
    registered.graph.output.append(
        helper.make_tensor_value_info("echo", TensorProto.FLOAT, ["batch"])
    )
    frame = _rows(artifact)
    text, numbers = layout.arrays(frame)
    outputs = [OUTPUT_NAME, UNSEEN_OUTPUT, "echo"]
    expected = _session(registered).run(outputs, layout.feed(text, numbers))

    packed = packed_graph(registered, layout)
    onnx.checker.check_model(packed, full_check=True)
    got = _session(packed).run(outputs, {TEXT_INPUT: text, NUMBERS_INPUT: numbers})

    for mine, theirs in zip(got, expected, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    gathered = [
        n.output[0] for n in packed.graph.node if n.op_type == "Gather" and n.input[0] in PACKED
    ]
    assert gathered == [*layout.categorical, name]


def _summing_graph(layout: FeatureLayout):
    """A raw-feature graph from another exporter: each category's code and the numbers
    summed, with no stacking of the numbers into a matrix."""
    nodes = [
        helper.make_node(
            "LabelEncoder",
            [name],
            [f"{name}/code"],
            domain="ai.onnx.ml",
            keys_strings=layout.vocabularies[name],
            values_int64s=list(range(1, len(layout.vocabularies[name]) + 1)),
            default_int64=0,
        )
        for name in layout.categorical
    ]
    nodes += [
        helper.make_node("Cast", [f"{n}/code"], [f"{n}/number"], to=TensorProto.FLOAT)
        for n in layout.categorical
    ]
    summed = [f"{n}/number" for n in layout.categorical] + layout.numeric
    nodes.append(helper.make_node("Sum", summed, ["total"]))
    graph = helper.make_graph(
        nodes,
        "summing",
        [
            helper.make_tensor_value_info(n, TensorProto.STRING, ["batch"])
            for n in layout.categorical
        ]
        + [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch"]) for n in layout.numeric],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch"])],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 2)]
    )


def test_a_graph_that_reads_its_inputs_otherwise_gets_every_column_gathered(artifact):
    layout = artifact.layout
    frame = _rows(artifact).fillna({n: 0.0 for n in layout.numeric})
    registered = _summing_graph(layout)
    text, numbers = layout.arrays(frame)
    (expected,) = _session(registered).run(["total"], layout.feed(text, numbers))

    packed = packed_graph(registered, layout)
    onnx.checker.check_model(packed, full_check=True)
    (got,) = _session(packed).run(["total"], {TEXT_INPUT: text, NUMBERS_INPUT: numbers})

    np.testing.assert_array_equal(got, expected)
    gathered = [
        n.output[0] for n in packed.graph.node if n.op_type == "Gather" and n.input[0] in PACKED
    ]
    assert gathered == layout.features


def test_a_graph_whose_inputs_are_not_one_value_a_row_is_refused_by_name(artifact):
    registered = _summing_graph(artifact.layout)
    column = registered.graph.input[4].type.tensor_type.shape.dim.add()
    column.dim_value = 1  # [batch, 1], as some exporters declare a column
    name = registered.graph.input[4].name
    with pytest.raises(ValueError, match=f"input '{name}' must be float32 \\[rows\\]"):
        packed_graph(registered, artifact.layout)


def test_an_input_of_unknown_rank_is_fed_its_column(artifact):
    layout = artifact.layout
    registered = _summing_graph(layout)
    registered.graph.input[4].type.tensor_type.ClearField("shape")
    frame = _rows(artifact).fillna({n: 0.0 for n in layout.numeric})
    text, numbers = layout.arrays(frame)
    (expected,) = _session(registered).run(["total"], layout.feed(text, numbers))

    (got,) = _session(packed_graph(registered, layout)).run(
        ["total"], {TEXT_INPUT: text, NUMBERS_INPUT: numbers}
    )

    np.testing.assert_array_equal(got, expected)


def test_a_graph_with_a_tensor_of_a_name_the_rewrite_adds_is_refused(artifact):
    registered = _summing_graph(artifact.layout)
    registered.graph.node[0].output[0] = f"{NUMBERS_INPUT}/0"
    with pytest.raises(ValueError, match="packed/numbers/0"):
        packed_graph(registered, artifact.layout)


def test_a_graph_with_a_tensor_of_a_packed_input_s_name_is_refused(artifact):
    registered = _summing_graph(artifact.layout)
    registered.graph.node[0].output[0] = TEXT_INPUT
    with pytest.raises(ValueError, match="packed/text"):
        packed_graph(registered, artifact.layout)


def test_the_removed_stacking_takes_its_shape_constant_and_value_info_with_it(artifact):
    """What only the stacking used goes with it; what the rest of the graph reads stays."""
    registered = onnx.load(artifact.directory / artifact.metadata.model_file)
    stacked = [n for n in registered.graph.node if n.op_type == "Reshape"]
    (reshape,) = (n for n in stacked if n.input[0] == "numeric/flat")
    registered.graph.value_info.append(
        helper.make_tensor_value_info("numeric/by_feature", TensorProto.FLOAT, None)
    )
    registered.graph.value_info.append(
        helper.make_tensor_value_info("numeric", TensorProto.FLOAT, None)
    )

    packed = packed_graph(registered, artifact.layout)

    assert reshape.input[1] not in {i.name for i in packed.graph.initializer}
    assert [v.name for v in packed.graph.value_info] == ["numeric"]  # the matrix, still read
    assert {"codes/shape", "offsets", "table"} <= {i.name for i in packed.graph.initializer}


def test_a_graph_without_a_feature_s_input_is_refused_naming_it(artifact):
    layout = artifact.layout
    wider = FeatureLayout(layout.categorical, [*layout.numeric, "runway"], layout.vocabularies)
    with pytest.raises(ValueError, match="the graph has no input 'runway'"):
        packed_graph(_summing_graph(layout), wider)


def test_a_graph_of_ir_3_listing_its_constants_as_inputs_runs_packed(artifact):
    """Before IR 4 every initializer was also a graph input; the packed graph's own
    constants are not, so it is lifted to IR 4."""
    layout = artifact.layout
    registered = _summing_graph(layout)
    registered.graph.initializer.append(onnx.numpy_helper.from_array(np.float32(0.5), "half"))
    registered.graph.input.append(helper.make_tensor_value_info("half", TensorProto.FLOAT, []))
    registered.graph.node[-1].input.append("half")
    registered.ir_version = 3
    frame = _rows(artifact).fillna({n: 0.0 for n in layout.numeric})
    text, numbers = layout.arrays(frame)
    (expected,) = _session(registered).run(["total"], layout.feed(text, numbers))

    packed = packed_graph(registered, layout)
    (got,) = _session(packed).run(["total"], {TEXT_INPUT: text, NUMBERS_INPUT: numbers})

    assert packed.ir_version == 4
    np.testing.assert_array_equal(got, expected)


def test_a_feature_read_only_inside_a_subgraph_is_gathered(artifact):
    """An `If` branch reads a numeric input from the outer graph: it must still be fed."""
    layout = artifact.layout
    registered = _summing_graph(layout)
    inner, other = layout.numeric[0], layout.numeric[1]

    def branch(name: str, read: str):
        out = helper.make_tensor_value_info(f"{name}/out", TensorProto.FLOAT, ["batch"])
        return helper.make_graph(
            [helper.make_node("Identity", [read], [f"{name}/out"])], name, [], [out]
        )

    registered.graph.node[-1].input.remove(inner)  # the sum no longer reads it
    registered.graph.initializer.append(onnx.numpy_helper.from_array(np.array(True), "yes"))
    registered.graph.node.append(
        helper.make_node(
            "If",
            ["yes"],
            ["chosen"],
            then_branch=branch("then", inner),
            else_branch=branch("else", other),
        )
    )
    registered.graph.output.append(
        helper.make_tensor_value_info("chosen", TensorProto.FLOAT, ["batch"])
    )
    frame = _rows(artifact).fillna({n: 0.0 for n in layout.numeric})
    text, numbers = layout.arrays(frame)
    expected = _session(registered).run(["total", "chosen"], layout.feed(text, numbers))

    packed = packed_graph(registered, layout)
    got = _session(packed).run(["total", "chosen"], {TEXT_INPUT: text, NUMBERS_INPUT: numbers})

    np.testing.assert_array_equal(got[1], numbers[:, 0])
    for mine, theirs in zip(got, expected, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def _codes(lookups: list[Lookup], text: np.ndarray) -> np.ndarray:
    return np.stack(
        [lookup.encode(list(column)) for lookup, column in zip(lookups, text.T, strict=True)], 1
    )


def test_the_artifact_fed_codes_answers_as_fed_text(artifact):
    """The export's LabelEncoders give the layout's codes; the coded graph reads them in
    their place and answers, unseen bits included, exactly as the text."""
    layout = artifact.layout
    text, numbers = layout.arrays(_rows(artifact))
    expected = artifact.predict_arrays(text, numbers)
    coded = ModelArtifact(artifact.directory, codes=True)

    got = coded.predict_arrays(_codes(coded.lookups, text), numbers)

    assert coded.lookups == [Lookup(layout.category_codes[n], 0) for n in layout.categorical]
    for mine, theirs in zip(got, expected, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert got[1][3] == 1 and got[1][5] == 4


def test_another_exporters_vocabularies_are_read_from_its_encoders(artifact):
    layout = artifact.layout
    registered = _summing_graph(layout)
    for node in registered.graph.node[: len(layout.categorical)]:  # codes from 10, default 3
        values = next(a for a in node.attribute if a.name == "values_int64s")
        values.ints[:] = [v + 9 for v in values.ints]
        next(a for a in node.attribute if a.name == "default_int64").i = 3
    frame = _rows(artifact).fillna({n: 0.0 for n in layout.numeric})
    text, numbers = layout.arrays(frame)
    packed = packed_graph(registered, layout)
    (expected,) = _session(packed).run(["total"], {TEXT_INPUT: text, NUMBERS_INPUT: numbers})

    coded, lookups = coded_graph(packed, layout)
    onnx.checker.check_model(coded, full_check=True)
    codes = _codes(lookups, text)
    (got,) = _session(coded).run(["total"], {CODES_INPUT: codes, NUMBERS_INPUT: numbers})

    np.testing.assert_array_equal(got, expected)
    assert codes[3, 0] == 3 and codes[0, 0] >= 10  # the unseen carrier; a known one
    assert [i.name for i in coded.graph.input] == [CODES_INPUT, NUMBERS_INPUT]
    assert not [n for n in coded.graph.node if n.op_type == "LabelEncoder"]


def _echoing(registered, name: str):
    """`registered` with a categorical input also read by a node of its own."""
    registered.graph.node.append(helper.make_node("Identity", [name], ["echo"]))
    registered.graph.output.append(
        helper.make_tensor_value_info("echo", TensorProto.STRING, ["batch"])
    )
    return registered


def test_a_graph_reading_a_category_past_its_encoder_is_fed_text_only(artifact):
    layout = artifact.layout
    packed = packed_graph(_echoing(_summing_graph(layout), layout.categorical[1]), layout)
    assert coded_graph(packed, layout) is None
    other = _summing_graph(layout)
    other.graph.node[0].domain = ""  # not `ai.onnx.ml`'s LabelEncoder
    assert coded_graph(packed_graph(other, layout), layout) is None
    answering = _summing_graph(layout)  # a category's text is also an answer
    answering.graph.output.append(
        helper.make_tensor_value_info(layout.categorical[2], TensorProto.STRING, ["batch"])
    )
    assert coded_graph(packed_graph(answering, layout), layout) is None


def test_an_artifact_takes_codes_only_when_asked_and_its_graph_allows(artifact, tmp_path):
    import shutil

    layout = artifact.layout
    text, numbers = layout.arrays(_rows(artifact))
    lookups = ModelArtifact(artifact.directory, codes=True).lookups
    directory = tmp_path / "echoing"
    shutil.copytree(artifact.directory, directory)
    model_file = directory / artifact.metadata.model_file
    onnx.save(_echoing(onnx.load(model_file), layout.categorical[0]), model_file)
    echoing = ModelArtifact(directory, codes=True)

    assert artifact.lookups is None and echoing.lookups is None
    for text_only in (artifact, echoing):
        with pytest.raises(ValueError, match="codes need `codes=True`"):
            text_only.predict_arrays(_codes(lookups, text), numbers)
    np.testing.assert_array_equal(
        echoing.predict_arrays(text, numbers)[0], artifact.predict_arrays(text, numbers)[0]
    )


def test_the_lookups_follow_onnxruntime_on_repeated_undecodable_and_defaulted_keys(artifact):
    """A key given twice (onnxruntime takes the first value), a key that is not UTF-8 (no
    text matches it) and no `default_int64` (the schema's -1)."""
    layout = artifact.layout
    registered = _summing_graph(layout)
    carrier = registered.graph.node[0]
    keys = next(a for a in carrier.attribute if a.name == "keys_strings")
    values = next(a for a in carrier.attribute if a.name == "values_int64s")
    first = keys.strings[0].decode()
    keys.strings.extend([keys.strings[0], b"\xff"])
    values.ints.extend([500, 600])
    carrier.attribute.remove(next(a for a in carrier.attribute if a.name == "default_int64"))
    frame = _rows(artifact).fillna({n: 0.0 for n in layout.numeric})
    frame.loc[0, "carrier"] = first
    text, numbers = layout.arrays(frame)
    packed = packed_graph(registered, layout)
    (expected,) = _session(packed).run(["total"], {TEXT_INPUT: text, NUMBERS_INPUT: numbers})

    coded, lookups = coded_graph(packed, layout)
    codes = _codes(lookups, text)
    (got,) = _session(coded).run(["total"], {CODES_INPUT: codes, NUMBERS_INPUT: numbers})

    np.testing.assert_array_equal(got, expected)
    assert codes[0, 0] == 1 and codes[3, 0] == -1  # the first value; the unseen ZZ
    assert lookups[0].default == -1 and 600 not in lookups[0].codes.values()
