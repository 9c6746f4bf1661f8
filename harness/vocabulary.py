"""SPEC 5's vocabulary of a failed check's diagnosis as data (results.json `extra_data`).

`blame`: where the fault lies. `mistake`: the kind of mistake recognised, left out
when none is. Kept apart from the code that recognises them (`numerics`, `checks`,
`ops`) so that every part of the harness, pure or not, names them the same way.
"""

FORWARD, BACKWARD, UPDATE, CONTRACT, TRAINING = "forward", "backward", "update", "contract", "training"
BLAMES = (FORWARD, BACKWARD, UPDATE, CONTRACT, TRAINING)

SCALE, SIGN, TRANSPOSE, BATCH_REDUCTION, MASK, ENTRIES = "scale", "sign", "transpose", "batch-reduction", "mask", "entries"
STABILITY, IN_PLACE, STATE, SHAPE = "stability", "in-place", "state", "shape"
NOT_IMPLEMENTED, TIMEOUT, CRASH = "not-implemented", "timeout", "crash"
MISTAKES = (SCALE, SIGN, TRANSPOSE, BATCH_REDUCTION, MASK, ENTRIES, STABILITY, IN_PLACE, STATE, SHAPE,
            NOT_IMPLEMENTED, TIMEOUT, CRASH)
