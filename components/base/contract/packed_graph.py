"""The registered graph as the artifact runs it: two matrix inputs, not one per feature.

The registered graph takes one input per feature (`FeatureLayout`), so that any ONNX runtime
serves it as it is. For a one-row call, onnxruntime binding 32 separate inputs is most of the
call's time (52 µs against 18 µs for the same graph fed two matrices, on this 2-core
machine), and every caller of `ModelArtifact` already holds the features as two matrices:
text [rows, categorical] and float32 [rows, numeric]. So the artifact runs a copy of the
graph that takes those. Each categorical column is taken out of the text matrix by a
`Gather` under its feature's name, so the vocabulary lookups downstream read what they
read before; where the graph stacks its numeric inputs into their matrix as sluice's export
does (`Concat` on axis 0, `Reshape` to [numeric, -1], `Transpose`), the numbers input takes
that matrix's place, and otherwise each numeric column is gathered too. Same weights, same
operators after the inputs, so the same answers; the tests hold the two graphs equal.

Batch inference holds each categorical column as a few distinct values (Parquet's
dictionary) and runs a further copy, `coded_graph`: fed the categories' codes, each
feature's column where its LabelEncoder's output was, with the encoders' vocabularies
(`Lookup`) to code the distinct values with, once each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np

from components.base.contract.layout import FeatureLayout, Lookup

TEXT_INPUT = "packed/text"
"""string [rows, categorical], in metadata order."""
NUMBERS_INPUT = "packed/numbers"
"""float32 [rows, numeric], in metadata order; NaN for missing."""
CODES_INPUT = "packed/codes"
"""int64 [rows, categorical], in metadata order: `TEXT_INPUT` as the graph's own
vocabulary lookups code it (`coded_graph`)."""


def packed_graph(model, layout: FeatureLayout):
    """A copy of `model` (an `onnx.ModelProto` whose inputs are the features by name, each
    [rows]: string for a categorical feature, float32 for a numeric one) that takes
    `TEXT_INPUT` and `NUMBERS_INPUT` instead. A graph whose inputs are otherwise is refused,
    naming the input, as onnxruntime would refuse the features fed to it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    packed = onnx.ModelProto()
    packed.CopyFrom(model)
    graph = packed.graph
    constants = {i.name for i in graph.initializer}
    inputs = {i.name: i for i in fed_inputs(graph)}
    kinds = [(TensorProto.STRING, "string", layout.categorical)]
    kinds.append((TensorProto.FLOAT, "float32", layout.numeric))
    for element, kind, names in kinds:
        for name in names:
            if name not in inputs:
                raise ValueError(f"the graph has no input {name!r}")
            tensor = inputs[name].type.tensor_type
            ranked = tensor.HasField("shape")  # an input of unknown rank takes [rows] too
            if tensor.elem_type != element or (ranked and len(tensor.shape.dim) != 1):
                raise ValueError(f"the graph's input {name!r} must be {kind} [rows]")
    sources = ((TEXT_INPUT, layout.categorical), (NUMBERS_INPUT, layout.numeric))
    indices = {f"{source}/{j}" for source, names in sources for j in range(len(names))}
    taken = {t for n in _nodes(graph) for t in n.output} | constants
    taken |= {v.name for v in graph.value_info} | {o.name for o in graph.output}
    taken |= {i.name for i in graph.input}
    clash = ({TEXT_INPUT, NUMBERS_INPUT, CODES_INPUT} | indices) & taken
    if clash:
        raise ValueError(f"the graph already has a tensor named {sorted(clash)}")
    front, chain = [], ()
    stacking = _numbers_stacked(graph, layout)
    if stacking is not None:
        *chain, matrix = stacking
        for node in chain:
            graph.node.remove(node)
        front.append(helper.make_node("Identity", [NUMBERS_INPUT], [matrix]))
    read = set(_reads(graph)) | {o.name for o in graph.output}
    gone = {t for node in chain for t in (*node.input, *node.output)} - read
    for listed in (graph.value_info, graph.initializer):  # the removed stacking's own
        kept = [item for item in listed if item.name not in gone]
        del listed[:]
        listed.extend(kept)
    for source, names in sources:
        for j, name in enumerate(names):
            if name in read:
                index = f"{source}/{j}"
                graph.initializer.append(numpy_helper.from_array(np.array(j, np.int64), index))
                front.append(helper.make_node("Gather", [source, index], [name], axis=1))
    nodes = [*front, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    packed.ir_version = max(packed.ir_version, 4)  # initializers need not be inputs
    del graph.input[:]
    graph.input.extend(
        [
            helper.make_tensor_value_info(
                TEXT_INPUT, TensorProto.STRING, ["batch", len(layout.categorical)]
            ),
            helper.make_tensor_value_info(
                NUMBERS_INPUT, TensorProto.FLOAT, ["batch", len(layout.numeric)]
            ),
        ]
    )
    return packed


def coded_graph(packed, layout: FeatureLayout) -> tuple[object, list[Lookup]] | None:
    """A copy of `packed` (`packed_graph`'s) that takes `CODES_INPUT` instead of
    `TEXT_INPUT`, and each categorical feature's `Lookup`, in metadata order. For a caller
    that holds a column's few distinct values (Parquet's dictionary) and looks each up once:
    the graph then reads no text, which onnxruntime copies into strings of its own, value by
    value (a tenth of the flights' forward pass). Each feature's column of the codes takes the
    place of its LabelEncoder's output, so the graph downstream is the same. None where a
    categorical feature is read otherwise than by one LabelEncoder from text to int64 (then
    only the text serves)."""
    import onnx
    from onnx import TensorProto, helper

    coded = onnx.ModelProto()
    coded.CopyFrom(packed)
    graph = coded.graph
    reads, readers, outputs = _reads(graph), _readers(graph), {o.name for o in graph.output}
    gathers = {n.output[0]: n for n in graph.node if n.op_type == "Gather"}
    lookups, encoders = [], []
    for name in layout.categorical:
        gather, found = gathers.get(name), readers.get(name, [])
        if gather is None or gather.input[0] != TEXT_INPUT or name in outputs:
            return None
        if reads[name] != 1 or len(found) != 1 or (lookup := _lookup(found[0])) is None:
            return None
        lookups.append(lookup)
        encoders.append(found[0])
    for name, encoder in zip(layout.categorical, encoders, strict=True):
        gather = gathers[name]
        gather.input[0], gather.output[0] = CODES_INPUT, encoder.output[0]
        graph.node.remove(encoder)
    kept = [v for v in graph.value_info if v.name not in set(layout.categorical)]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    (text,) = (i for i in graph.input if i.name == TEXT_INPUT)
    text.CopyFrom(
        helper.make_tensor_value_info(
            CODES_INPUT, TensorProto.INT64, ["batch", len(layout.categorical)]
        )
    )
    return coded, lookups


def _lookup(node) -> Lookup | None:
    """The vocabulary of an `ai.onnx.ml` LabelEncoder from text to int64 in the attributes
    of opset 2 (`keys_strings`, `values_int64s`, `default_int64`, which the operator's
    schema defaults to -1), as onnxruntime looks it up; None for any other node."""
    from onnx import helper

    if node.op_type != "LabelEncoder" or node.domain != "ai.onnx.ml":
        return None
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if set(attributes) - {"keys_strings", "values_int64s", "default_int64"}:
        return None
    keys, values = attributes.get("keys_strings", []), attributes.get("values_int64s", [])
    if not keys or len(keys) != len(values):
        return None
    codes: dict[str, int] = {}
    for key, value in zip(keys, values, strict=True):
        try:
            word = key.decode()
        except UnicodeDecodeError:
            continue  # no text a caller sends (UTF-8) matches it
        codes.setdefault(word, value)  # a key given twice: onnxruntime takes the first
    return Lookup(codes, attributes.get("default_int64", -1))


def fed_inputs(graph) -> list:
    """The graph's inputs that a caller feeds: before IR 4 its constants are listed among
    them too."""
    constants = {i.name for i in graph.initializer}
    return [i for i in graph.input if i.name not in constants]


def _nodes(graph) -> Iterator:
    """Every node of the graph, those of its subgraphs (`If`, `Loop`, `Scan` bodies) too."""
    from onnx import AttributeProto

    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                yield from _nodes(attribute.g)
            elif attribute.type == AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    yield from _nodes(subgraph)


def _reads(graph) -> Counter:
    """How many times each tensor is read, by any node of the graph or of its subgraphs."""
    return Counter(t for node in _nodes(graph) for t in node.input)


def _readers(graph) -> dict[str, list]:
    """The nodes of the graph itself (not its subgraphs) that read each tensor."""
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    return readers


def _numbers_stacked(graph, layout: FeatureLayout) -> tuple | None:
    """The export's stacking of the numeric inputs into [rows, numeric] (`Concat` of them
    in metadata order on axis 0, `Reshape` to [numeric, -1], `Transpose` [1, 0], each read
    by the next alone): its three nodes and the name of the matrix it makes; None where the
    graph does not stack them so."""
    from onnx import helper, numpy_helper

    constants = {i.name: i for i in graph.initializer}
    reads, readers, outputs = _reads(graph), _readers(graph), {o.name for o in graph.output}

    def only_reader(node, op_type: str):
        (made,) = node.output
        found = readers.get(made, [])
        if made in outputs or reads[made] != 1 or len(found) != 1 or found[0].op_type != op_type:
            return None
        return found[0]

    def attribute(node, name: str):
        values = [helper.get_attribute_value(a) for a in node.attribute if a.name == name]
        return values[0] if values else None

    concat = next(
        (n for n in graph.node if n.op_type == "Concat" and list(n.input) == layout.numeric),
        None,
    )
    if concat is None or attribute(concat, "axis") != 0:
        return None
    reshape = only_reader(concat, "Reshape")
    if reshape is None or reshape.input[0] != concat.output[0]:
        return None
    shape = constants.get(reshape.input[1])
    if shape is None or numpy_helper.to_array(shape).tolist() != [len(layout.numeric), -1]:
        return None
    transpose = only_reader(reshape, "Transpose")
    if transpose is None or list(attribute(transpose, "perm") or ()) != [1, 0]:
        return None
    return concat, reshape, transpose, transpose.output[0]
