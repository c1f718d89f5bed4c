"""From a table on disk to the rows and names a formula is evaluated on.

``tables`` reads CSV, TSV and Parquet; ``schema`` holds the learning-curve schema's derived names
(``TS``, ``log_err``, ``mix``, ``w``, ``IXMin``, ...) and its trial rule; ``frame`` applies
``--let``, ``--where``, the prior weights and the NA policy to give a :class:`~.frame.ModelFrame`;
``datasets`` bundles the example table and reads LCDB.
"""
