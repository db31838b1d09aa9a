"""Writes of a round's lifecycle, one module per stage: planning, lifecycle (state machine, approval,
cancellation, participation), collecting (opening, commitments, submissions), aggregating (the opened sum,
the new model, the deadline sweep) and chain_records (the round's chain transactions)."""
