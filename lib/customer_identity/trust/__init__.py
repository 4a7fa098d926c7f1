"""Trust: how right the customers are, and how many people there are: evaluation, sweep, count, audit, review, explain."""
