"""Everything specific to the NYC flights use case, kept together.

A user bringing their own data edits this package: the table schema and label
(`schema`), the expectation suite (`suite`), the feature computations (`features`) and
the Feast repository (`feature_repo/`).
"""
