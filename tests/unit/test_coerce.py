import pandas as pd

from components.validate.coerce import coerce_table


def test_values_that_do_not_fit_the_type_are_reported_by_row():
    raw = pd.DataFrame(
        {
            "n": ["1", "x", None, "2.5"],
            "i": [1.0, 2.5, 3.0, float("inf")],
            "t": ["2013-01-01T10:00:00Z", "soon", None, "2013-01-01T11:00:00Z"],
            "s": ["a", 1, None, "b"],
        }
    )
    schema = {"n": "float", "i": "int", "t": "time", "s": "str", "absent": "float"}
    frame, failures = coerce_table(raw, schema)
    by_column = {f.column: f.rows for f in failures}
    assert by_column == {"n": [1], "i": [1, 3], "t": [1]}
    assert frame["n"].tolist()[3] == 2.5
    assert str(frame["t"].dt.tz) == "America/New_York"
    assert frame["s"].tolist()[:2] == ["a", "1"]
    assert "absent" not in frame
