"""The policy scenario suite (``make policy-eval``): the library's own decisions on simulated weekly batches.

Why a replay and not ``dag.test()``: the question is whether the *decisions* (drift rule, performance
decay, incidents, retraining, the gate) are right over months of weeks, for many seeds, which needs
thousands of weekly verdicts. The replay calls the same functions the DAG tasks call (validation, the
drift verdict, evaluation, the incident policy, training, the gate) on in-memory frames, and compares the
policy with three oracles on the same weeks: never retrain, retrain every week, retrain at the change.

``scenarios`` builds the weekly worlds on ``dev.simulate`` (labels with the batch, or 2 and 4 weeks late);
``adapters`` is the one place that calls the decision APIs; ``replay`` runs a strategy through the weeks;
``table`` aggregates, checks the targets and prints; ``estimate_eval`` is the label-free estimate's own
benchmark (CBPE against the realised metric, with and without shift). Development code only: production
code never imports this package.
"""
